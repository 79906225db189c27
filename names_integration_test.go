package transparent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// The names' world: the article's, with a name server in C (reached from
// A over the Internet) and more addresses on B's eth0, where B's web
// server answers too, for names to point at.
const (
	appName   = "app.example.com"
	nameTTL   = time.Second     // the answers' TTL in the tests that rotate
	longTTL   = time.Minute     // in the tests that must not ask again
	testGrace = 3 * time.Second // WithNameGrace: short, but longer than a poll's round
	waitLimit = 20 * time.Second
)

// extraB are the addresses added to B's eth0 for names, by family, beside
// its article address: app.example.com points at some of them. No two
// are adjacent, so that the tunnel's routes to them are not aggregated.
var extraB = map[string][]netip.Addr{
	"IPv4": {netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20"), netip.MustParseAddr("203.0.113.30")},
	"IPv6": {netip.MustParseAddr("2001:db8:b::10"), netip.MustParseAddr("2001:db8:b::20"), netip.MustParseAddr("2001:db8:b::30")},
}

// namesWorld is the article's world with the name server and B up.
type namesWorld struct {
	*article
	dns  *testns.DNSServer
	b    *transparent.Tunnel
	logs *syncBuffer
}

func newNamesWorld(t *testing.T, fams ...family) *namesWorld {
	t.Helper()
	w := &namesWorld{article: newArticle(t), logs: &syncBuffer{}}
	for _, f := range fams {
		link, err := w.B.Netlink().LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		bits := 24
		if f.name == "IPv6" {
			bits = 64
		}
		for _, a := range extraB[f.name] {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}, Flags: unix.IFA_F_NODAD}
			if err := w.B.Netlink().AddrAdd(link, addr); err != nil {
				t.Fatalf("add %s to B: %v", a, err)
			}
		}
	}
	w.dns = testns.DNS(t, w.C, publicC)
	cfg := transparent.Config{
		Name: w.nameB, PrivateKey: w.keyB, ListenPort: 51822,
		Addresses: hostPrefixes(fams, func(f family) netip.Addr { return f.tunB }),
		Peers: []transparent.Peer{{
			PublicKey:  w.keyA.PublicKey(),
			AllowedIPs: hostPrefixes(fams, func(f family) netip.Addr { return f.tunA }),
		}},
	}
	w.b = newTunnel(t, cfg, w.B)
	if err := w.b.Up(context.Background()); err != nil {
		t.Fatalf("up B: %v", err)
	}
	return w
}

// configA is A reaching B by its names only.
func (w *namesWorld) configA(fams []family, names ...string) transparent.Config {
	return transparent.Config{
		Name: w.nameA, PrivateKey: w.keyA, ListenPort: 51821,
		Addresses: hostPrefixes(fams, func(f family) netip.Addr { return f.tunA }),
		Peers: []transparent.Peer{{
			PublicKey:        w.keyB.PublicKey(),
			Endpoint:         netip.AddrPortFrom(publicB, 51822),
			AllowedIPs:       hostPrefixes(fams, func(f family) netip.Addr { return f.tunB }),
			TransparentNames: names,
		}},
	}
}

// tunnelA makes A's Tunnel asking the test's name server, with a TTL
// floor of 1 s and the test's grace period, logging into w.logs.
func (w *namesWorld) tunnelA(t *testing.T, cfg transparent.Config, opts ...transparent.Option) *transparent.Tunnel {
	t.Helper()
	opts = append([]transparent.Option{
		transparent.WithNetNS(w.A.Path), transparent.WithBackend(testBackend()), transparent.WithFirewall(testFirewall()),
		transparent.WithResolver(w.dns.Addr()), transparent.WithNameTTL(time.Second, time.Hour), transparent.WithNameGrace(testGrace),
		transparent.WithLogger(slog.New(slog.NewTextHandler(w.logs, nil))),
	}, opts...)
	tun, err := transparent.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		tun.Down(context.Background())
		tun.Close()
	})
	return tun
}

// client returns the client address B's server logged for a request from
// A to a.
func (w *namesWorld) client(t *testing.T, a netip.Addr) netip.Addr {
	t.Helper()
	return w.requestFrom(t, w.A, "http://"+netip.AddrPortFrom(a, 80).String()+"/")
}

// expectRouted checks, with B's access log, that A's requests to each of
// through reach B through the tunnel (from A's tunnel address of the
// family) and those to each of over the Internet (from A's public one).
func (w *namesWorld) expectRouted(t *testing.T, through, over []netip.Addr) {
	t.Helper()
	for _, a := range through {
		if got, want := w.client(t, a), familyOf(a).tunA; got != want {
			t.Errorf("GET %s from A: B logged client %s, want %s (through the tunnel)", a, got, want)
		}
	}
	for _, a := range over {
		if got, want := w.client(t, a), familyOf(a).pubA; got != want {
			t.Errorf("GET %s from A: B logged client %s, want %s (over the Internet)", a, got, want)
		}
	}
}

func familyOf(a netip.Addr) family {
	if a.Is4() {
		return ipv4
	}
	return ipv6
}

// waitFor polls cond every 100 ms until it holds, for at most waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitLimit, what)
		}
	}
}

// routedTo reports whether A's table 123 has a route to a.
func (w *namesWorld) routedTo(a netip.Addr) bool {
	fam := netlink.FAMILY_V4
	if a.Is6() {
		fam = netlink.FAMILY_V6
	}
	routes, err := w.A.Netlink().RouteListFiltered(fam, &netlink.Route{Table: 123}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(routes, func(r netlink.Route) bool {
		return r.Dst != nil && r.Dst.Contains(a.AsSlice())
	})
}

// status returns A's state of name.
func status(tun *transparent.Tunnel, name string) transparent.NameStatus {
	for _, s := range tun.Names() {
		if s.Name == name {
			return s
		}
	}
	return transparent.NameStatus{}
}

// watch runs tun.Watch until the test ends.
func watch(t *testing.T, tun *transparent.Tunnel) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tun.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
	})
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNamesThroughTunnel: A reaches app.example.com's addresses through
// the tunnel and B's other addresses over the Internet; C is not
// affected; Plan shows the name; a second Up asks nothing and writes
// nothing; Check reports an answer that moved without keeping it, and
// Names lists the addresses.
func TestNamesThroughTunnel(t *testing.T) {
	w := newNamesWorld(t, ipv4)
	x := extraB["IPv4"]
	w.dns.Set(appName, longTTL, x[0], x[1])
	a := w.tunnelA(t, w.configA([]family{ipv4}, appName))
	ctx := context.Background()

	plan, err := a.Plan(ctx)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	wantLine := fmt.Sprintf("name %s: %s, %s (ttl 1m0s)", appName, x[0], x[1])
	if len(plan) == 0 || plan[0].Op != transparent.OpKeep || plan[0].Step != wantLine || !strings.HasPrefix(plan[0].Command, "# ") {
		t.Errorf("Plan's first line %+v, want keep %q", plan[0], wantLine)
	}
	if err := a.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	w.expectRouted(t, x[:2], []netip.Addr{x[2]})
	w.expectClient(t, w.C, "http://"+x[0].String()+"/", publicC)

	queries := w.dns.Queries(appName)
	if err := a.Up(ctx); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if n := transparent.Writes(a); n != 0 {
		t.Errorf("second Up made %d writes, want 0", n)
	}
	if q := w.dns.Queries(appName); q != queries {
		t.Errorf("second Up asked %d more questions, want none (the TTL has not run out)", q-queries)
	}
	if err := a.Check(ctx); err != nil {
		t.Errorf("Check with the same answer: %v", err)
	}

	w.dns.Set(appName, longTTL, x[0], x[2])
	err = a.Check(ctx)
	var drift *transparent.DriftError
	if !errors.As(err, &drift) {
		t.Fatalf("Check after the answer moved = %v, want drift", err)
	}
	var steps []string
	for _, c := range drift.Changes {
		steps = append(steps, c.Step)
	}
	text := strings.Join(steps, "\n")
	for _, want := range []string{
		fmt.Sprintf("name %s: answer moved to %s, %s (ttl 1m0s), was %s, %s", appName, x[0], x[2], x[0], x[1]),
		"route " + x[2].String() + "/32",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("drift lacks %q:\n%s", want, text)
		}
	}
	st := status(a, appName)
	if !slices.Equal(st.Addrs, x[:2]) || st.Err != nil || st.TTL != longTTL || !st.Next.After(time.Now()) {
		t.Errorf("Names after Check: %+v, want the first answer, kept", st)
	}
	w.expectRouted(t, x[:2], []netip.Addr{x[2]}) // Check changed nothing
}

// TestNamesRotationWatch: while Watch runs, the answer moves from one
// address to another: the new one is routed within a TTL, the old one
// stays routed for its grace period and then goes over the Internet; the
// changes are the two addresses' rules and routes only (no rebuild).
func TestNamesRotationWatch(t *testing.T) {
	w := newNamesWorld(t, ipv4)
	x := extraB["IPv4"]
	w.dns.Set(appName, nameTTL, x[0])
	a := w.tunnelA(t, w.configA([]family{ipv4}, appName))
	watch(t, a)
	waitFor(t, "Watch's first Up to route "+x[0].String(), func() bool { return w.routedTo(x[0]) })
	w.expectRouted(t, x[:1], x[1:])
	link, err := w.A.Netlink().LinkByName(w.nameA)
	if err != nil {
		t.Fatal(err)
	}
	events := testns.Watch(t, w.A)

	w.dns.Set(appName, nameTTL, x[1])
	waitFor(t, "the new address "+x[1].String()+" to be routed", func() bool { return w.routedTo(x[1]) })
	st := status(a, appName)
	if !slices.Equal(st.Addrs, x[1:2]) || len(st.Leaving) != 1 || st.Leaving[0].Addr != x[0] {
		t.Fatalf("Names after the rotation: %+v, want %s with %s leaving; log:\n%s", st, x[1], x[0], w.logs)
	}
	until := st.Leaving[0].Until
	if time.Until(until) > 0 {
		w.expectRouted(t, x[:2], nil) // the old address in its grace period
	}
	waitFor(t, "the grace period of "+x[0].String()+" to end", func() bool { return !w.routedTo(x[0]) })
	if now := time.Now(); now.Before(until) {
		t.Errorf("%s removed %s before its grace period ended", x[0], until.Sub(now))
	}
	w.expectRouted(t, x[1:2], []netip.Addr{x[0], x[2]})

	for _, e := range events.Settle(300 * time.Millisecond) {
		if !strings.Contains(e, x[0].String()+"/32") && !strings.Contains(e, x[1].String()+"/32") {
			t.Errorf("the rotation changed more than its two addresses: %s", e)
		}
	}
	if again, err := w.A.Netlink().LinkByName(w.nameA); err != nil || again.Attrs().Index != link.Attrs().Index {
		t.Errorf("the tunnel's link was replaced during the rotation")
	}
	if d, err := a.Device(); err != nil || len(d.Peers) != 1 || !slices.ContainsFunc(d.Peers[0].AllowedIPs, func(n net.IPNet) bool { return n.String() == x[1].String()+"/32" }) {
		t.Errorf("device AllowedIPs lack %s: %v", x[1], err)
	}
}

// TestNamesIPv6: AAAA answers are routed as /128s in a dual-stack
// tunnel, beside the A answers.
func TestNamesIPv6(t *testing.T) {
	w := newNamesWorld(t, ipv4, ipv6)
	x4, x6 := extraB["IPv4"], extraB["IPv6"]
	w.dns.Set(appName, longTTL, x4[0], x6[0], x6[1])
	a := w.tunnelA(t, w.configA([]family{ipv4, ipv6}, appName))
	if err := a.Up(context.Background()); err != nil {
		t.Fatalf("Up: %v", err)
	}
	w.expectRouted(t, []netip.Addr{x4[0], x6[0], x6[1]}, []netip.Addr{x4[1], x6[2]})
	if st := status(a, appName); !slices.Equal(st.Addrs, []netip.Addr{x4[0], x6[0], x6[1]}) {
		t.Errorf("Names: %+v", st)
	}
}

// TestNamesSilentResolver: a name server that stops answering leaves the
// addresses routed; Watch logs it, retries, and follows the answer once
// the server is back.
func TestNamesSilentResolver(t *testing.T) {
	w := newNamesWorld(t, ipv4)
	x := extraB["IPv4"]
	w.dns.Set(appName, nameTTL, x[0])
	a := w.tunnelA(t, w.configA([]family{ipv4}, appName))
	watch(t, a)
	waitFor(t, "Watch's first Up", func() bool { return w.routedTo(x[0]) })

	w.dns.Silent(true)
	w.dns.Set(appName, nameTTL, x[1]) // not told while silent
	waitFor(t, "a failed lookup", func() bool { return status(a, appName).Err != nil })
	w.expectRouted(t, x[:1], x[1:])
	if st := status(a, appName); !slices.Equal(st.Addrs, x[:1]) || !strings.Contains(st.Err.Error(), "name server gave no answer") {
		t.Errorf("Names while the server is silent: %+v", st)
	}
	if !strings.Contains(w.logs.String(), "keeping its addresses") {
		t.Errorf("no log of the failed lookup:\n%s", w.logs)
	}

	w.dns.Silent(false)
	waitFor(t, "Watch to follow the answer after the server is back", func() bool { return w.routedTo(x[1]) })
	w.expectRouted(t, x[1:2], x[2:])
	if st := status(a, appName); st.Err != nil {
		t.Errorf("Names after the server is back: %+v", st)
	}
}

// TestNamesMany: 100 names of 4 addresses each (RulesTable) come up in
// one Up, each address a route and an AllowedIPs entry; one of them is
// reached through the tunnel; a second Up asks nothing and writes
// nothing.
func TestNamesMany(t *testing.T) {
	w := newNamesWorld(t, ipv4)
	x := extraB["IPv4"]
	var names []string
	for i := range 100 {
		name := fmt.Sprintf("host%d.example.com", i)
		names = append(names, name)
		var as []netip.Addr
		for j := range 4 {
			as = append(as, netip.AddrFrom4([4]byte{198, 18, byte(i), byte(10 * (j + 1))}))
		}
		if i == 0 {
			as[0] = x[0]
		}
		w.dns.Set(name, longTTL, as...)
	}
	cfg := w.configA([]family{ipv4}, names...)
	cfg.Rules = transparent.RulesTable
	a := w.tunnelA(t, cfg)
	ctx := context.Background()
	if err := a.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	routes, err := w.A.Netlink().RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 123}, netlink.RT_FILTER_TABLE)
	if err != nil || len(routes) != 401 {
		t.Errorf("table 123 has %d routes (%v), want 400 names' and B's tunnel address", len(routes), err)
	}
	d, err := a.Device()
	if err != nil || len(d.Peers) != 1 || len(d.Peers[0].AllowedIPs) != 401 {
		t.Errorf("device: %v", err)
	}
	w.expectRouted(t, x[:1], x[1:])
	queries := 0
	for _, n := range names {
		queries += w.dns.Queries(n)
	}
	if err := a.Up(ctx); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	again := 0
	for _, n := range names {
		again += w.dns.Queries(n)
	}
	if n := transparent.Writes(a); n != 0 || again != queries {
		t.Errorf("second Up: %d writes and %d questions, want none", n, again-queries)
	}
	if len(a.Names()) != 100 {
		t.Errorf("Names lists %d names", len(a.Names()))
	}
}

// TestNamesSNAT: with SNATOutbound the SNAT rules follow the answer: B
// logs A's public address for requests to the name's address, which
// cross the tunnel (counted on B's device), and after the answer moves
// (no grace) the new address is translated and routed, the old one
// neither.
func TestNamesSNAT(t *testing.T) {
	requireIPTables(t)
	w := newNamesWorld(t, ipv4)
	x := extraB["IPv4"]
	// B routes replies to A's public address back through the tunnel, as
	// the article's B does for SNAT on A.
	_, bcfg := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w.article)
	if err := w.b.SetConfig(bcfg); err != nil {
		t.Fatal(err)
	}
	if err := w.b.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	counted := countHTTP(t, w.B, ipv4, w.nameB)
	w.dns.Set(appName, nameTTL, x[0])
	cfg := w.configA([]family{ipv4}, appName)
	cfg.SNAT = transparent.SNATOutbound
	a := w.tunnelA(t, cfg, transparent.WithNameGrace(0))
	ctx := context.Background()
	if err := a.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	expect := func(to netip.Addr, tunnel bool) {
		t.Helper()
		before := counted()
		if got := w.client(t, to); got != publicA {
			t.Errorf("GET %s: B logged %s, want A's public address %s", to, got, publicA)
		}
		if crossed := counted() > before; crossed != tunnel {
			t.Errorf("GET %s crossed the tunnel: %v, want %v", to, crossed, tunnel)
		}
	}
	expect(x[0], true)

	w.dns.Set(appName, nameTTL, x[1])
	time.Sleep(nameTTL + 100*time.Millisecond)
	if err := a.Up(ctx); err != nil {
		t.Fatalf("Up after the answer moved: %v", err)
	}
	expect(x[1], true)
	// B routes all its replies to A's public address through the tunnel,
	// so the old address, no longer routed by A, cannot be asked over the
	// Internet: its route and SNAT rule are gone.
	if w.routedTo(x[0]) {
		t.Errorf("%s is still routed after the answer moved (no grace)", x[0])
	}
	plan, err := a.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snat := ""
	for _, c := range plan {
		if strings.Contains(strings.ToLower(c.Command), "snat") && strings.Contains(c.Command, "198.51.100.1") {
			snat += c.Command + "\n"
		}
	}
	if !strings.Contains(snat, x[1].String()) || strings.Contains(snat, x[0].String()) {
		t.Errorf("the SNAT rules do not follow the answer (%s, not %s):\n%s", x[1], x[0], snat)
	}
}

// TestNamesUnresolvedChangeNothing: a name that does not resolve, whose
// server is silent, or whose answer is a tunnel address fails Up with
// ErrName naming it, and the namespace is as before.
func TestNamesUnresolvedChangeNothing(t *testing.T) {
	w := newNamesWorld(t, ipv4)
	w.dns.Set("tunnel.example.com", longTTL, tunB)
	before := dump(t, w.A)
	for _, tc := range []struct {
		name, want string
		silent     bool
	}{
		{"missing.example.com", "does not exist (NXDOMAIN)", false},
		{"tunnel.example.com", "answer address 10.0.0.2 is inside Peers[0].AllowedIPs[0]", false},
		{appName, "name server gave no answer", true},
	} {
		w.dns.Set(appName, longTTL, extraB["IPv4"][0])
		w.dns.Silent(tc.silent)
		a := w.tunnelA(t, w.configA([]family{ipv4}, "ok.example.com", tc.name))
		w.dns.Set("ok.example.com", longTTL, extraB["IPv4"][1])
		err := a.Up(context.Background())
		if !errors.Is(err, transparent.ErrName) || !strings.Contains(err.Error(), "Peers[0].TransparentNames[1] "+tc.name) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Up = %v, want ErrName naming the field, the name and %q", tc.name, err, tc.want)
		}
		expectSameDump(t, w.A, before, "after Up failed for "+tc.name)
	}
	w.dns.Silent(false)
}
