package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/nsdo"
	"github.com/wgtransparent/transparent/internal/resolve"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/net/dns/dnsmessage"
)

func TestMain(m *testing.M) { testns.GuardMain(m) }

// dialIn makes a Resolver's Dial that opens its sockets inside ns, as the
// tunnel does for its target namespace.
func dialIn(ns *testns.NS) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		var c net.Conn
		err := nsdo.Do(ns.Handle, func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, address)
			return err
		})
		return c, err
	}
}

func ips(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

// world is a namespace with a DNS server on its loopback and a Resolver
// that asks it from inside the namespace.
func world(t *testing.T) (*testns.DNSServer, *resolve.Resolver) {
	t.Helper()
	testns.RequireRoot(t)
	ns := testns.New(t, "dns")
	srv := testns.DNS(t, ns, netip.MustParseAddr("127.0.0.1"))
	return srv, &resolve.Resolver{Server: srv.Addr(), Dial: dialIn(ns), Timeout: 300 * time.Millisecond}
}

// TestLookup: A, AAAA, both, CNAME chains and the smallest TTL, from a
// server inside a namespace; names that do not exist or have no addresses
// are ErrNoAddresses naming them.
func TestLookup(t *testing.T) {
	srv, r := world(t)
	srv.Set("v4.example.com", time.Minute, ips("192.0.2.2", "192.0.2.1")...)
	srv.Set("v6.example.com", time.Minute, ips("2001:db8::1")...)
	srv.Set("both.example.com", 60*time.Second, ips("203.0.113.7", "10.1.2.3")...) // private ranges are fine
	srv.Add("both.example.com", 30*time.Second, ips("2001:db8::7")...)
	srv.Alias("app.example.com", "lb.example.net", 45*time.Second)
	srv.Alias("lb.example.net", "edge.cdn.example", 300*time.Second)
	srv.Set("edge.cdn.example", 120*time.Second, ips("198.51.100.9", "2001:db8:9::9")...)
	srv.Set("empty.example.com", time.Minute)
	srv.Alias("dangling.example.com", "gone.example.net", time.Minute)

	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		addrs []netip.Addr
		ttl   time.Duration
	}{
		{"v4.example.com", ips("192.0.2.1", "192.0.2.2"), time.Minute},
		{"V6.Example.com.", ips("2001:db8::1"), time.Minute},
		{"both.example.com", ips("10.1.2.3", "203.0.113.7", "2001:db8::7"), 30 * time.Second},
		{"app.example.com", ips("198.51.100.9", "2001:db8:9::9"), 45 * time.Second},
	} {
		a, err := r.Lookup(ctx, tt.name)
		if err != nil {
			t.Errorf("Lookup(%s): %v", tt.name, err)
			continue
		}
		if a.Name != resolve.Canonical(tt.name) || !slices.Equal(a.Addrs, tt.addrs) || a.TTL != tt.ttl {
			t.Errorf("Lookup(%s) = %+v, want %v with TTL %v", tt.name, a, tt.addrs, tt.ttl)
		}
		if n := srv.Queries(tt.name); n != 2 {
			t.Errorf("Lookup(%s) asked %d questions, want 2 (A and AAAA)", tt.name, n)
		}
	}
	for _, tt := range []struct{ name, says string }{
		{"missing.example.com", "missing.example.com: name has no addresses: the name does not exist (NXDOMAIN)"},
		{"empty.example.com", "empty.example.com: name has no addresses: the name has no A or AAAA records"},
		{"dangling.example.com", "dangling.example.com: name has no addresses: the name does not exist"},
	} {
		if _, err := r.Lookup(ctx, tt.name); !errors.Is(err, resolve.ErrNoAddresses) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("Lookup(%s) = %v, want ErrNoAddresses saying %q", tt.name, err, tt.says)
		}
	}
	if _, err := r.Lookup(ctx, "10.0.0.1"); !errors.Is(err, resolve.ErrInvalidName) || srv.Queries("10.0.0.1") != 0 {
		t.Errorf("Lookup of an address = %v, want ErrInvalidName and no question asked", err)
	}
}

// TestLookupSilent: a server that stops answering is ErrUnreachable after
// Attempts tries of Timeout each, not a hang; when it answers again, so
// does Lookup. A cancelled context ends the wait.
func TestLookupSilent(t *testing.T) {
	srv, r := world(t)
	r.Attempts = 2
	srv.Set("app.example.com", time.Minute, ips("192.0.2.1")...)
	srv.Silent(true)
	start := time.Now()
	_, err := r.Lookup(context.Background(), "app.example.com")
	if !errors.Is(err, resolve.ErrUnreachable) || !strings.Contains(err.Error(), "app.example.com at 127.0.0.1:53") {
		t.Errorf("silent server: %v, want ErrUnreachable naming the name and the server", err)
	}
	if took := time.Since(start); took > 10*time.Second { // a hang guard, not a speed target
		t.Errorf("silent server: Lookup took %v with a Timeout of %v", took, r.Timeout)
	}
	if n := srv.Queries("app.example.com"); n != 4 {
		t.Errorf("silent server got %d questions, want 4 (2 attempts × A and AAAA)", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.Timeout = time.Hour
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := r.Lookup(ctx, "app.example.com"); !errors.Is(err, resolve.ErrUnreachable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want ErrUnreachable wrapping context.Canceled", err)
	}

	r.Timeout = 300 * time.Millisecond
	srv.Silent(false)
	if a, err := r.Lookup(context.Background(), "app.example.com"); err != nil || !slices.Equal(a.Addrs, ips("192.0.2.1")) {
		t.Errorf("server back: %+v, %v", a, err)
	}
}

// TestLookupTCP: a truncated UDP answer is asked again over TCP, whether
// the server truncates everything or the answer is larger than the 1232
// bytes a query offers.
func TestLookupTCP(t *testing.T) {
	srv, r := world(t)
	srv.Set("small.example.com", time.Minute, ips("192.0.2.1", "2001:db8::1")...)
	var big []netip.Addr
	for i := range 200 {
		big = append(big, netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}))
	}
	srv.Set("big.example.com", time.Minute, big...)

	srv.Truncate(true)
	a, err := r.Lookup(context.Background(), "small.example.com")
	if err != nil || !slices.Equal(a.Addrs, ips("192.0.2.1", "2001:db8::1")) {
		t.Errorf("truncated: %+v, %v", a, err)
	}
	if n := srv.TCPQueries("small.example.com"); n != 2 {
		t.Errorf("truncated: %d questions over TCP, want 2", n)
	}
	srv.Truncate(false)
	a, err = r.Lookup(context.Background(), "big.example.com")
	if err != nil || len(a.Addrs) != 200 {
		t.Errorf("200 addresses: %d addresses, %v", len(a.Addrs), err)
	}
	if n := srv.TCPQueries("big.example.com"); n != 1 {
		t.Errorf("200 A records: %d questions over TCP, want 1 (the A question)", n)
	}
}

// TestLookupMany: 100 names with 4 addresses each, asked 8 at a time.
func TestLookupMany(t *testing.T) {
	srv, r := world(t)
	const names = 100
	want := map[string][]netip.Addr{}
	for i := range names {
		name := fmt.Sprintf("svc%d.example.com", i)
		want[name] = []netip.Addr{
			netip.AddrFrom4([4]byte{10, 20, byte(i), 1}), netip.AddrFrom4([4]byte{10, 20, byte(i), 2}),
			netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::1", i)), netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::2", i)),
		}
		srv.Set(name, time.Duration(30+i)*time.Second, want[name]...)
	}
	var mu sync.Mutex
	got := map[string]resolve.Answer{}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				a, err := r.Lookup(context.Background(), name)
				if err != nil {
					t.Errorf("Lookup(%s): %v", name, err)
				}
				mu.Lock()
				got[name] = a
				mu.Unlock()
			}
		}()
	}
	for name := range want {
		work <- name
	}
	close(work)
	wg.Wait()
	for i := range names {
		name := fmt.Sprintf("svc%d.example.com", i)
		if a := got[name]; !slices.Equal(a.Addrs, want[name]) || a.TTL != time.Duration(30+i)*time.Second {
			t.Errorf("Lookup(%s) = %+v, want %v", name, a, want[name])
		}
	}
}

// TestLookupHostile: answers that must not be routed are refused with the
// name and the reason; forged answers (another ID or question) are
// ignored, and records off the CNAME chain are not taken.
func TestLookupHostile(t *testing.T) {
	srv, r := world(t)
	ctx := context.Background()
	srv.Set("loop.example.com", time.Minute, ips("192.0.2.1", "127.0.0.1")...)
	srv.Set("local.example.com", time.Minute, ips("fe80::1")...)
	srv.Set("mcast.example.com", time.Minute, ips("239.1.2.3")...)
	srv.Set("zero.example.com", time.Minute, ips("0.0.0.0")...)
	var flood []netip.Addr
	for i := range 300 {
		flood = append(flood, netip.AddrFrom4([4]byte{10, 30, byte(i >> 8), byte(i)}))
	}
	srv.Set("flood.example.com", time.Minute, flood...)
	for _, tt := range []struct{ name, says string }{
		{"loop.example.com", "resolve loop.example.com: refused answer: the answer has 127.0.0.1, a loopback address"},
		{"local.example.com", "fe80::1, a link-local address"},
		{"mcast.example.com", "239.1.2.3, a multicast address"},
		{"zero.example.com", "0.0.0.0, an unspecified address"},
		{"flood.example.com", "resolve flood.example.com: refused answer: the answer has 300 addresses, more than the 256 allowed"},
	} {
		if _, err := r.Lookup(ctx, tt.name); !errors.Is(err, resolve.ErrRefusedAnswer) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("Lookup(%s) = %v, want ErrRefusedAnswer saying %q", tt.name, err, tt.says)
		}
	}

	srv.Set("app.example.com", time.Minute, ips("192.0.2.1")...)
	for _, tt := range []struct {
		desc    string
		rewrite func(*dnsmessage.Message)
	}{
		{"another ID", func(m *dnsmessage.Message) { m.ID++ }},
		{"another question", func(m *dnsmessage.Message) {
			m.Questions[0].Name = dnsmessage.MustNewName("evil.example.")
		}},
		{"not a response", func(m *dnsmessage.Message) { m.Response = false }},
	} {
		srv.Rewrite(tt.rewrite)
		if _, err := r.Lookup(ctx, "app.example.com"); !errors.Is(err, resolve.ErrUnreachable) {
			t.Errorf("%s: Lookup = %v, want ErrUnreachable (forged answers are dropped)", tt.desc, err)
		}
	}

	srv.Rewrite(func(m *dnsmessage.Message) { // an extra record for a name not asked
		h := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("bank.example."), Class: dnsmessage.ClassINET, TTL: 60}
		m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: [4]byte{203, 0, 113, 66}}})
	})
	if a, err := r.Lookup(ctx, "app.example.com"); err != nil || !slices.Equal(a.Addrs, ips("192.0.2.1")) {
		t.Errorf("with a record off the chain: %+v, %v; want only 192.0.2.1", a, err)
	}
	srv.Rewrite(func(m *dnsmessage.Message) { m.RCode = dnsmessage.RCodeServerFailure; m.Answers = nil })
	if _, err := r.Lookup(ctx, "app.example.com"); !errors.Is(err, resolve.ErrUnreachable) || !strings.Contains(err.Error(), "the server answered ServerFailure (RCODE 2)") {
		t.Errorf("SERVFAIL: %v, want ErrUnreachable saying so", err)
	}
}
