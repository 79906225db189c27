package testns

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// dnsMinUDP is the UDP answer size every client takes (RFC 1035); a
	// client offering more with EDNS0 gets up to what it offers.
	dnsMinUDP = 512
	// dnsMaxChain bounds the CNAME chain the server follows in its own
	// data, so that a test that makes a loop gets an answer.
	dnsMaxChain = 16
	// dnsTCPIdle is how long a TCP connection may sit idle before the
	// server closes it.
	dnsTCPIdle = 10 * time.Second
)

// DNSServer is a name server for tests: it answers A and AAAA questions
// from records the test sets, on UDP and TCP port 53, like a recursive
// resolver that follows CNAMEs in its own data. A name it does not know is
// NXDOMAIN; a name it knows without records of the type asked is an empty
// answer. A UDP answer larger than the client offers (512 bytes without
// EDNS0) is truncated, so the client asks again over TCP.
type DNSServer struct {
	addr netip.AddrPort

	mu       sync.Mutex
	names    map[string]*dnsName // by canonical name: lower case, no trailing dot
	silent   bool
	truncate bool
	rewrite  func(*dnsmessage.Message)
	queries  map[string]int    // by name, both transports
	tcp      map[string]int    // by name, TCP only
	conns    map[net.Conn]bool // open TCP connections, closed at cleanup
	closed   bool              // cleanup has begun: new connections are closed at once
}

// dnsName is one name's records: an alias, or addresses.
type dnsName struct {
	cname    string
	cnameTTL uint32
	addrs    []dnsAddr
}

type dnsAddr struct {
	addr netip.Addr
	ttl  uint32
}

// DNS starts a DNSServer listening on addr port 53, UDP and TCP, inside n;
// addr must be an address of n (127.0.0.1 and ::1 always are). It stops at
// t.Cleanup.
func DNS(t TB, n *NS, addr netip.Addr) *DNSServer {
	t.Helper()
	s := &DNSServer{
		addr:  netip.AddrPortFrom(addr, 53),
		names: map[string]*dnsName{}, queries: map[string]int{}, tcp: map[string]int{}, conns: map[net.Conn]bool{},
	}
	var pc net.PacketConn
	var ln net.Listener
	err := n.Do(func() (err error) {
		if pc, err = net.ListenPacket("udp", s.addr.String()); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", s.addr.String()); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("listen for DNS on %s in %s: %v", s.addr, n.Name, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.serveUDP(pc) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.serveTCP(ln, &wg) }()
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

// Addr returns the server's address and port.
func (s *DNSServer) Addr() netip.AddrPort { return s.addr }

// Set makes name have exactly addrs (A and AAAA records), each with ttl;
// no addresses means a name that exists without addresses. It replaces an
// alias.
func (s *DNSServer) Set(name string, ttl time.Duration, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &dnsName{}
	for _, a := range addrs {
		d.addrs = append(d.addrs, dnsAddr{a, uint32(ttl / time.Second)})
	}
	s.names[dnsKey(name)] = d
}

// Add gives name more addresses with their own ttl, keeping those it has.
func (s *DNSServer) Add(name string, ttl time.Duration, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.names[dnsKey(name)]
	if d == nil || d.cname != "" {
		d = &dnsName{}
		s.names[dnsKey(name)] = d
	}
	for _, a := range addrs {
		d.addrs = append(d.addrs, dnsAddr{a, uint32(ttl / time.Second)})
	}
}

// Alias makes name a CNAME for target, with ttl.
func (s *DNSServer) Alias(name, target string, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[dnsKey(name)] = &dnsName{cname: dnsKey(target), cnameTTL: uint32(ttl / time.Second)}
}

// Remove deletes name: it is NXDOMAIN from now on.
func (s *DNSServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, dnsKey(name))
}

// Silent makes the server stop answering (true) or answer again (false).
// A silent server still receives and counts queries, and still accepts
// TCP connections: to a client it looks like a server that is overloaded
// or whose answers are lost.
func (s *DNSServer) Silent(silent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = silent
}

// Truncate makes every UDP answer truncated (true): the TC flag set and
// no records, so that clients must ask over TCP.
func (s *DNSServer) Truncate(truncate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = truncate
}

// Rewrite sets a function that changes every answer before it is sent
// (nil for none): a test makes hostile answers with it, such as another
// ID or extra records.
func (s *DNSServer) Rewrite(f func(*dnsmessage.Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rewrite = f
}

// Queries returns how many questions for name the server received, over
// UDP and TCP, answered or not.
func (s *DNSServer) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[dnsKey(name)]
}

// TCPQueries returns how many of name's questions came over TCP.
func (s *DNSServer) TCPQueries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcp[dnsKey(name)]
}

func dnsKey(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (s *DNSServer) serveUDP(pc net.PacketConn) {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return // closed at cleanup
		}
		if out := s.answer(buf[:n], false); out != nil {
			pc.WriteTo(out, from)
		}
	}
}

func (s *DNSServer) serveTCP(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed at cleanup
		}
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.conns[c] = true
		}
		s.mu.Unlock()
		if closed {
			c.Close()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serveConn(c)
		}()
	}
}

// serveConn answers the length-prefixed queries of one TCP connection.
func (s *DNSServer) serveConn(c net.Conn) {
	for {
		c.SetDeadline(time.Now().Add(dnsTCPIdle))
		var size [2]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		out := s.answer(msg, true)
		if out == nil {
			continue // silent: the client waits
		}
		frame := binary.BigEndian.AppendUint16(nil, uint16(len(out)))
		if _, err := c.Write(append(frame, out...)); err != nil {
			return
		}
	}
}

// answer returns the packed answer to the query msg, or nil to send none
// (a silent server, or a message that is no query).
func (s *DNSServer) answer(msg []byte, overTCP bool) []byte {
	var q dnsmessage.Message
	if err := q.Unpack(msg); err != nil || q.Response || len(q.Questions) != 1 {
		return nil
	}
	question := q.Questions[0]
	key := dnsKey(question.Name.String())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries[key]++
	if overTCP {
		s.tcp[key]++
	}
	if s.silent {
		return nil
	}
	r := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: q.ID, Response: true, RecursionDesired: q.RecursionDesired, RecursionAvailable: true},
		Questions: q.Questions,
	}
	r.RCode, r.Answers = s.records(question)
	if s.rewrite != nil {
		s.rewrite(&r)
	}
	limit := dnsMinUDP
	for _, a := range q.Additionals {
		if a.Header.Type == dnsmessage.TypeOPT {
			limit = max(limit, int(a.Header.Class))
		}
	}
	out, err := r.Pack()
	if err != nil {
		return nil
	}
	if !overTCP && (s.truncate || len(out) > limit) {
		r.Truncated, r.Answers = true, nil
		out, _ = r.Pack()
	}
	return out
}

// records follows question's name through the aliases and returns the
// RCODE and the answer records: the CNAMEs of the chain and the addresses
// of the type asked at its end.
func (s *DNSServer) records(q dnsmessage.Question) (dnsmessage.RCode, []dnsmessage.Resource) {
	var rrs []dnsmessage.Resource
	name := dnsKey(q.Name.String())
	for range dnsMaxChain {
		d := s.names[name]
		if d == nil {
			return dnsmessage.RCodeNameError, rrs
		}
		h := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name + "."), Class: dnsmessage.ClassINET}
		if d.cname != "" {
			h.TTL = d.cnameTTL
			rrs = append(rrs, dnsmessage.Resource{Header: h, Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(d.cname + ".")}})
			name = d.cname
			continue
		}
		for _, a := range d.addrs {
			h.TTL = a.ttl
			switch {
			case q.Type == dnsmessage.TypeA && a.addr.Is4():
				rrs = append(rrs, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.addr.As4()}})
			case q.Type == dnsmessage.TypeAAAA && a.addr.Is6():
				rrs = append(rrs, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.addr.As16()}})
			}
		}
		return dnsmessage.RCodeSuccess, rrs
	}
	return dnsmessage.RCodeServerFailure, nil
}
