package transparent_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	if os.Getenv(capsChildEnv) != "" {
		capsChild()
		return
	}
	testns.GuardMain(m)
}

// The article's addresses, as the test world has them.
var (
	publicA = netip.MustParseAddr("198.51.100.1")
	publicB = netip.MustParseAddr("203.0.113.2")
	publicC = netip.MustParseAddr("192.0.2.3")
	tunA    = netip.MustParseAddr("10.0.0.1")
	tunB    = netip.MustParseAddr("10.0.0.2")
)

// article is the article's world with keys for both endpoints and
// distinct device names: embedded devices share /var/run/wireguard across
// namespaces, so two "wg0" cannot run in one process.
type article struct {
	*testns.World
	keyA, keyB wgtypes.Key
	nameA      string
	nameB      string
}

func newArticle(t *testing.T) *article {
	t.Helper()
	testns.RequireRoot(t)
	w := &article{World: testns.Article(t), keyA: genKey(t), keyB: genKey(t)}
	suffix := randHex(t)
	w.nameA, w.nameB = "wga"+suffix, "wgb"+suffix
	return w
}

// configA is the article's Endpoint A with the given peer route option.
func (w *article) configA(pr transparent.PeerRoute) transparent.Config {
	addr := netip.PrefixFrom(tunA, 32)
	if pr == transparent.PeerRoutePrefix {
		addr = netip.PrefixFrom(tunA, 30)
	}
	return transparent.Config{
		Name:       w.nameA,
		PrivateKey: w.keyA,
		ListenPort: 51821,
		Addresses:  []netip.Prefix{addr},
		Table:      123,
		Priority:   455,
		PeerRoute:  pr,
		Peers: []transparent.Peer{{
			PublicKey:   w.keyB.PublicKey(),
			Endpoint:    netip.AddrPortFrom(publicB, 51822),
			AllowedIPs:  []netip.Prefix{netip.PrefixFrom(tunB, 32)},
			Transparent: []netip.Prefix{netip.PrefixFrom(publicB, 32)},
		}},
	}
}

// upB brings up Endpoint B as a plain point-to-point tunnel: its peer A
// has only its tunnel address, and no endpoint (B learns it).
func (w *article) upB(t *testing.T) *transparent.Tunnel {
	t.Helper()
	cfg := transparent.Config{
		Name:       w.nameB,
		PrivateKey: w.keyB,
		ListenPort: 51822,
		Addresses:  []netip.Prefix{netip.PrefixFrom(tunB, 32)},
		Peers: []transparent.Peer{{
			PublicKey:  w.keyA.PublicKey(),
			AllowedIPs: []netip.Prefix{netip.PrefixFrom(tunA, 32)},
		}},
	}
	tun := newTunnel(t, cfg, w.B)
	if err := tun.Up(context.Background()); err != nil {
		t.Fatalf("up B: %v", err)
	}
	return tun
}

// newTunnel makes a Tunnel in namespace ns, closed at cleanup.
func newTunnel(t *testing.T, cfg transparent.Config, ns *testns.NS) *transparent.Tunnel {
	t.Helper()
	tun, err := transparent.New(cfg, transparent.WithNetNS(ns.Path), transparent.WithBackend(testBackend()), transparent.WithFirewall(testFirewall()))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

// requestFrom makes an HTTP request from ns to url and returns the client
// address B's server logged for it.
func (w *article) requestFrom(t *testing.T, ns *testns.NS, url string) netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := testns.Get(ctx, ns, url); err != nil {
		t.Fatalf("GET %s from %s: %v", url, ns.Name, err)
	}
	return w.Server.Last()
}

func (w *article) expectClient(t *testing.T, from *testns.NS, url string, want netip.Addr) {
	t.Helper()
	if got := w.requestFrom(t, from, url); got != want {
		t.Errorf("GET %s from %s: B logged client %s, want %s", url, from.Name, got, want)
	}
}

// dump waits out IPv6 duplicate address detection, so that an address
// still tentative now does not differ from the same address later.
func dump(t *testing.T, ns *testns.NS) string {
	t.Helper()
	d, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatalf("dump %s: %v", ns.Name, err)
	}
	return d
}

func expectSameDump(t *testing.T, ns *testns.NS, before, what string) {
	t.Helper()
	diff, err := testns.DiffSettled(ns, before)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("%s: namespace %s differs from before:\n%s", what, ns.Name, diff)
	}
}

// TestArticleEndpointA is the article's "Test It Out" for each of the three
// options of its fourth change.
func TestArticleEndpointA(t *testing.T) {
	for _, mode := range []transparent.RuleMode{transparent.RulesPerDestination, transparent.RulesTable} {
		for _, pr := range []transparent.PeerRoute{transparent.PeerRoutePrefix, transparent.PeerRouteMain, transparent.PeerRouteRule} {
			t.Run(mode.String()+"/"+pr.String(), func(t *testing.T) { testArticleEndpointA(t, mode, pr) })
		}
	}
}

// testArticleEndpointA is one run of TestArticleEndpointA: the article's
// rules, or with RulesTable the table's two rules.
func testArticleEndpointA(t *testing.T, mode transparent.RuleMode, pr transparent.PeerRoute) {
	w := newArticle(t)
	b := w.upB(t)
	urlB := "http://" + publicB.String() + "/"

	w.expectClient(t, w.A, urlB, publicA) // over the Internet
	before := dump(t, w.A)

	cfg := w.configA(pr)
	cfg.Rules = mode
	a := newTunnel(t, cfg, w.A)
	ctx := context.Background()
	if err := a.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if got := a.Backend(); got != wantBackend() {
		t.Errorf("Backend() = %s, want %s", got, wantBackend())
	}
	w.expectClient(t, w.A, urlB, tunA)                        // through the tunnel
	w.expectClient(t, w.A, "http://"+tunB.String()+"/", tunA) // B's tunnel address
	w.expectClient(t, w.C, urlB, publicC)                     // C is not affected
	expectPeerTraffic(t, b)
	transparentRules := []string{"456: to 203.0.113.2/32 lookup 123"}
	if mode == transparent.RulesTable {
		transparentRules = []string{"456: to 0.0.0.0/1 lookup 123", "456: to 128.0.0.0/1 lookup 123"}
	}
	expectRulesInOrder(t, w.A, append([]string{"455: to 203.0.113.2/32 ipproto 17 dport 51822 lookup 254"}, transparentRules...))
	expectTableRoutes(t, w.A, 123, w.nameA, "10.0.0.2/32", "203.0.113.2/32")
	switch {
	case pr == transparent.PeerRouteRule && mode == transparent.RulesPerDestination:
		expectRulesInOrder(t, w.A, []string{"457: to 10.0.0.2/32 lookup 123"})
	case pr == transparent.PeerRouteMain:
		expectTableRoutes(t, w.A, unix.RT_TABLE_MAIN, w.nameA, "10.0.0.2/32")
	}

	if err := a.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	expectSameDump(t, w.A, before, "after Down")
	w.expectClient(t, w.A, urlB, publicA) // over the Internet again
}

// expectPeerTraffic checks that B's device saw a handshake and data from A:
// the requests really went through the tunnel.
func expectPeerTraffic(t *testing.T, b *transparent.Tunnel) {
	t.Helper()
	d, err := b.Device()
	if err != nil || d == nil || len(d.Peers) != 1 {
		t.Fatalf("B's device: %+v, %v", d, err)
	}
	p := d.Peers[0]
	if p.LastHandshakeTime.IsZero() || p.ReceiveBytes == 0 {
		t.Errorf("B's peer A: last handshake %v, received %d bytes; want a handshake and data", p.LastHandshakeTime, p.ReceiveBytes)
	}
}

// expectRulesInOrder checks that want appear in ns's IPv4 rules in this
// order (not necessarily adjacent), each written "PRIO: to DST [ipproto N
// dport P] lookup TABLE", and that each is marked as ours.
func expectRulesInOrder(t *testing.T, ns *testns.NS, want []string) {
	t.Helper()
	rules, err := ns.Netlink().RuleList(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		if r.Dst == nil {
			continue
		}
		s := strings.Join(strings.Fields(
			itoa(r.Priority)+": to "+r.Dst.String()+ipproto(r)+" lookup "+itoa(r.Table)), " ")
		if r.Protocol != transparent.RouteProtocol {
			s += " (not ours)"
		}
		got = append(got, s)
	}
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Errorf("rules = %q\nwant in order %q", got, want)
	}
}

func ipproto(r netlink.Rule) string {
	s := ""
	if r.IPProto != 0 {
		s += " ipproto " + itoa(r.IPProto)
	}
	if r.Dport != nil {
		s += " dport " + itoa(int(r.Dport.Start))
	}
	return s
}

// expectTableRoutes checks that table holds exactly the routes dsts
// through link name, marked as ours.
func expectTableRoutes(t *testing.T, ns *testns.NS, table int, name string, dsts ...string) {
	t.Helper()
	h := ns.Netlink()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := h.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: table, LinkIndex: link.Attrs().Index}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range routes {
		if r.Protocol == transparent.RouteProtocol {
			got = append(got, r.Dst.String())
		}
	}
	if strings.Join(got, " ") != strings.Join(dsts, " ") {
		t.Errorf("routes of ours in table %d = %v, want %v", table, got, dsts)
	}
}

// TestUpTwiceChangesNothing: a second Up makes no kernel write, as seen by
// a netlink subscription on A's namespace, and the tunnel keeps working.
func TestUpTwiceChangesNothing(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		t.Fatalf("first Up: %v", err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
	after := dump(t, w.A)
	dev1, _ := tun.Device()

	watch := testns.Watch(t, w.A)
	watch.Settle(200 * time.Millisecond)
	watch.Reset()
	if err := tun.Up(ctx); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if ev := watch.Settle(300 * time.Millisecond); len(ev) != 0 {
		t.Errorf("second Up changed the kernel: %q", ev)
	}
	expectSameDump(t, w.A, after, "after the second Up")
	dev2, _ := tun.Device()
	if dev1.Peers[0].LastHandshakeTime != dev2.Peers[0].LastHandshakeTime {
		t.Errorf("second Up reset the peer's session")
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
}

// TestDownFromFreshTunnel: after the process that ran Up is gone (its
// embedded device with it), a new Tunnel built from the same config brings
// everything down, and Down twice is fine.
func TestDownFromFreshTunnel(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	before := dump(t, w.A)
	cfg := w.configA(transparent.PeerRouteMain)
	first := newTunnel(t, cfg, w.A)
	ctx := context.Background()
	if err := first.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	first.Close() // as a crash would: the device goes, the rules stay
	if testns.Diff(before, dump(t, w.A)) == "" {
		t.Fatal("rules gone with the device; this test would prove nothing")
	}

	second := newTunnel(t, cfg, w.A)
	for i := range 2 {
		if err := second.Down(ctx); err != nil {
			t.Fatalf("Down #%d: %v", i+1, err)
		}
		expectSameDump(t, w.A, before, "after Down from a fresh Tunnel")
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", publicA)
}

// TestBadInputChangesNothing: invalid configs, a foreign rule at our
// priority and a busy listen port are all refused
// with a clear error, and A's namespace is left as it was.
func TestBadInputChangesNothing(t *testing.T) {
	w := newArticle(t)
	ctx := context.Background()

	t.Run("invalid config", func(t *testing.T) {
		before := dump(t, w.A)
		cfg := w.configA(transparent.PeerRoutePrefix)
		cfg.Table = 254
		cfg.Peers[0].Endpoint = netip.AddrPort{}
		_, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path))
		if !errors.Is(err, transparent.ErrInvalidConfig) || !strings.Contains(err.Error(), "Table") || !strings.Contains(err.Error(), "Peers[0].Endpoint") {
			t.Errorf("New = %v, want ErrInvalidConfig naming Table and Peers[0].Endpoint", err)
		}
		expectSameDump(t, w.A, before, "after New with a bad config")
	})

	t.Run("foreign rule at our priority", func(t *testing.T) {
		foreign := netlink.NewRule()
		foreign.Priority, foreign.Table = 456, 200
		foreign.Dst = &net.IPNet{IP: net.IPv4(192, 0, 2, 99), Mask: net.CIDRMask(32, 32)}
		if err := w.A.Netlink().RuleAdd(foreign); err != nil {
			t.Fatal(err)
		}
		defer w.A.Netlink().RuleDel(foreign)
		before := dump(t, w.A)
		tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
		err := tun.Up(ctx)
		if !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), "456") {
			t.Errorf("Up = %v, want ErrConflict naming rule 456", err)
		}
		expectSameDump(t, w.A, before, "after a refused Up")
	})

	t.Run("foreign route in our table", func(t *testing.T) {
		foreign := &netlink.Route{Table: 123, Type: unix.RTN_BLACKHOLE, Dst: &net.IPNet{IP: net.IPv4(192, 0, 2, 99), Mask: net.CIDRMask(32, 32)}}
		if err := w.A.Netlink().RouteAdd(foreign); err != nil {
			t.Fatal(err)
		}
		defer w.A.Netlink().RouteDel(foreign)
		before := dump(t, w.A)
		tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
		err := tun.Up(ctx)
		if !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), "table 123") {
			t.Errorf("Up = %v, want ErrConflict naming table 123", err)
		}
		expectSameDump(t, w.A, before, "after a refused Up")
	})

	t.Run("link of our name that is not WireGuard", func(t *testing.T) {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: w.nameA}, PeerName: "other"}
		if err := w.A.Netlink().LinkAdd(veth); err != nil {
			t.Fatal(err)
		}
		defer w.A.Netlink().LinkDel(veth)
		before := dump(t, w.A)
		tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
		if err := tun.Up(ctx); !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), "veth") {
			t.Errorf("Up = %v, want ErrConflict naming the veth", err)
		}
		if err := tun.Down(ctx); !errors.Is(err, transparent.ErrConflict) {
			t.Errorf("Down = %v, want ErrConflict saying it left the link alone", err)
		}
		expectSameDump(t, w.A, before, "after Up and Down next to a foreign link")
	})

	t.Run("listen port in use rolls back", func(t *testing.T) {
		var pc net.PacketConn
		if err := w.A.Do(func() (err error) {
			pc, err = net.ListenPacket("udp", ":51821")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		before := dump(t, w.A)
		tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
		err := tun.Up(ctx)
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("Up = %v, want an error about the busy port", err)
		}
		expectSameDump(t, w.A, before, "after a rolled-back Up")
	})
}

func genKey(t *testing.T) wgtypes.Key {
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randHex(t *testing.T) string {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func itoa(i int) string { return strconv.Itoa(i) }
