package resolve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// DefaultTimeout is how long one attempt waits for an answer: a
	// resolver on the path answers in milliseconds, a recursive lookup in
	// well under a second; the C library waits 5 s, which would make Up
	// wait long for a dead server.
	DefaultTimeout = 2 * time.Second
	// DefaultAttempts is how many times a question is sent over UDP before
	// the server counts as unreachable: one loss is survived.
	DefaultAttempts = 2
	// MaxAddrsPerName caps the addresses of one name (A and AAAA
	// together). Every address becomes a route or rule, an AllowedIPs
	// entry and a SNAT set element; real names have a handful (large CDNs
	// a few dozen), so more than 256 is a hostile or broken answer that
	// would flood the tables, and is refused.
	MaxAddrsPerName = 256
)

// Answer is what a name resolves to now.
type Answer struct {
	Name  string        // the name asked, canonical (see [Canonical])
	Addrs []netip.Addr  // IPv4 and IPv6 addresses, sorted, without duplicates
	TTL   time.Duration // the smallest TTL of the records used, CNAMEs included
}

// Resolver asks one name server for the A and AAAA records of names. The
// zero value is not usable: Server must be set. A Resolver is not changed
// by its lookups, so one may run many Lookups at the same time.
type Resolver struct {
	// Server is the name server to ask, such as the result of [ServerFor].
	Server netip.AddrPort

	// Dial makes the connections ("udp" or "tcp") to Server. The caller
	// supplies one that creates its sockets inside the target network
	// namespace, so that queries go where that namespace's traffic goes.
	// Nil means a net.Dialer's DialContext, in the caller's namespace.
	// Lookup calls it from two goroutines at once (A and AAAA), so it must
	// be safe for concurrent use, as nsdo.Do around a net.Dialer is.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// Timeout is how long one attempt waits for its answer; zero means
	// DefaultTimeout.
	Timeout time.Duration

	// Attempts is how many times a question is sent over UDP; zero means
	// DefaultAttempts.
	Attempts int
}

// Lookup asks for name's A and AAAA records at the same time and returns
// the addresses at the end of their CNAME chains. Over UDP, a response
// that does not match the query's ID and question is dropped (it may be
// forged) and the wait goes on; a truncated one is asked again over TCP.
//
// The errors, all naming the name: [ErrInvalidName] for a bad name;
// [ErrNoAddresses] when the name does not exist or has no addresses;
// [ErrUnreachable] when either question got no usable answer (timeout,
// network error, a server failure), so that a caller keeps what it had;
// [ErrRefusedAnswer] for an address this package does not route or more
// than MaxAddrsPerName of them.
func (r *Resolver) Lookup(ctx context.Context, name string) (Answer, error) {
	if err := ValidName(name); err != nil {
		return Answer{}, fmt.Errorf("resolve %s: %w", name, err)
	}
	canon := Canonical(name)
	if !r.Server.IsValid() {
		return Answer{}, fmt.Errorf("resolve %s: %w: the resolver has no server address", canon, ErrNoServer)
	}
	qname, err := dnsmessage.NewName(canon + ".")
	if err != nil {
		return Answer{}, fmt.Errorf("resolve %s: %w: %w", canon, ErrInvalidName, err)
	}
	types := []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
	replies := make([]reply, len(types))
	errs := make([]error, len(types))
	done := make(chan int, len(types))
	for i, t := range types {
		go func() {
			replies[i], errs[i] = r.ask(ctx, dnsmessage.Question{Name: qname, Type: t, Class: dnsmessage.ClassINET})
			done <- i
		}()
	}
	for range types {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		return Answer{}, fmt.Errorf("resolve %s at %s: %w", canon, r.Server, err)
	}
	return answer(canon, replies)
}

// answer combines the replies to the A and AAAA questions.
func answer(name string, replies []reply) (Answer, error) {
	a := Answer{Name: name}
	var ttl uint32
	records, nx := false, false
	for _, rep := range replies {
		nx = nx || rep.rcode == dnsmessage.RCodeNameError
		a.Addrs = append(a.Addrs, rep.addrs...)
		if rep.records && (!records || rep.ttl < ttl) {
			ttl = rep.ttl
			records = true
		}
	}
	if len(a.Addrs) == 0 {
		switch {
		case nx:
			return Answer{}, fmt.Errorf("resolve %s: %w: the name does not exist (NXDOMAIN)", name, ErrNoAddresses)
		case replies[0].end != name+".":
			return Answer{}, fmt.Errorf("resolve %s: %w: it is an alias of %s, which has no A or AAAA records in the answer", name, ErrNoAddresses, replies[0].end)
		}
		return Answer{}, fmt.Errorf("resolve %s: %w: the name has no A or AAAA records", name, ErrNoAddresses)
	}
	for _, addr := range a.Addrs {
		if why := unroutable(addr); why != "" {
			article := "a"
			if strings.ContainsRune("aeiouAEIOU", rune(why[0])) {
				article = "an"
			}
			return Answer{}, fmt.Errorf("resolve %s: %w: the answer has %s, %s %s address, which is not routed through a tunnel", name, ErrRefusedAnswer, addr, article, why)
		}
	}
	slices.SortFunc(a.Addrs, netip.Addr.Compare)
	a.Addrs = slices.Compact(a.Addrs)
	if len(a.Addrs) > MaxAddrsPerName {
		return Answer{}, fmt.Errorf("resolve %s: %w: the answer has %d addresses, more than the %d allowed for one name", name, ErrRefusedAnswer, len(a.Addrs), MaxAddrsPerName)
	}
	a.TTL = time.Duration(ttl) * time.Second
	return a, nil
}

// unroutable says what kind of address addr is if it is one that must not
// be routed through a tunnel, or "" if it may be. Private ranges may:
// internal services have them.
func unroutable(addr netip.Addr) string {
	switch {
	case addr.IsLoopback():
		return "loopback"
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsLinkLocalUnicast():
		return "link-local"
	case addr.IsMulticast():
		return "multicast"
	case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	case addr.Is4In6():
		return "IPv4-mapped IPv6"
	}
	return ""
}

// ask sends one question, over UDP up to Attempts times and over TCP when
// the answer is truncated. Only NOERROR and NXDOMAIN are answers; anything
// else is tried again and in the end an ErrUnreachable.
func (r *Resolver) ask(ctx context.Context, q dnsmessage.Question) (reply, error) {
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var last error
	tries := 0
	for range attempts {
		if ended(ctx) != nil {
			break
		}
		tries++
		rep, err := r.exchange(ctx, "udp", q)
		if err == nil && rep.truncated {
			rep, err = r.exchange(ctx, "tcp", q)
		}
		if err == nil {
			switch rep.rcode {
			case dnsmessage.RCodeSuccess, dnsmessage.RCodeNameError:
				return rep, nil
			}
			err = fmt.Errorf("the server answered %s (RCODE %d)", strings.TrimPrefix(rep.rcode.String(), "RCode"), rep.rcode)
		}
		if errors.Is(err, ErrRefusedAnswer) {
			return reply{}, err
		}
		last = err
	}
	if last == nil {
		last = ended(ctx)
	}
	return reply{}, fmt.Errorf("%w: %s question, %d %s: %w", ErrUnreachable, strings.TrimPrefix(q.Type.String(), "Type"), tries, plural(tries, "attempt"), last)
}

// exchange sends the question once over network ("udp" or "tcp") and
// waits for its answer, at most Timeout and no longer than ctx allows.
func (r *Resolver) exchange(parent context.Context, network string, q dnsmessage.Question) (rep reply, err error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	defer func() {
		if err != nil {
			if end := ended(parent); end != nil { // the caller gave up: say so rather than only "i/o timeout"
				err = fmt.Errorf("%w (%w)", end, err)
			} else if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("no answer within %v: %w", timeout, err)
			}
		}
	}()
	dial := r.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, network, r.Server.String())
	if err != nil {
		return reply{}, fmt.Errorf("connect over %s: %w", network, err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) }) // a cancelled ctx ends the wait at once
	defer stop()
	id := uint16(rand.Uint32())
	msg, err := packQuery(id, q)
	if err != nil {
		return reply{}, fmt.Errorf("build the query: %w", err)
	}
	if network == "tcp" {
		return exchangeStream(c, msg, id, q)
	}
	if _, err := c.Write(msg); err != nil {
		return reply{}, fmt.Errorf("send over udp: %w", err)
	}
	buf := make([]byte, maxMessage)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return reply{}, fmt.Errorf("wait for the answer over udp: %w", err)
		}
		rep, err := parseReply(buf[:n], id, q)
		if errors.Is(err, errMismatch) {
			continue // not ours: forged or late; the deadline bounds the wait
		}
		return rep, err
	}
}

// ended returns why ctx is over, or nil. A deadline that has passed counts
// even before ctx's own timer has marked it done: a socket deadline set to
// the same time may fire first.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// exchangeStream sends msg over a TCP connection with its two-byte length
// (RFC 1035 section 4.2.2) and reads one answer. Over TCP nobody else can
// inject messages, so a mismatched one is an error.
func exchangeStream(c net.Conn, msg []byte, id uint16, q dnsmessage.Question) (reply, error) {
	frame := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	if _, err := c.Write(append(frame, msg...)); err != nil {
		return reply{}, fmt.Errorf("send over tcp: %w", err)
	}
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return reply{}, fmt.Errorf("wait for the answer over tcp: %w", err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return reply{}, fmt.Errorf("read the answer over tcp: %w", err)
	}
	rep, err := parseReply(buf, id, q)
	if err != nil {
		return reply{}, fmt.Errorf("answer over tcp: %w", err)
	}
	if rep.truncated {
		return reply{}, errors.New("answer over tcp: truncated")
	}
	return rep, nil
}
