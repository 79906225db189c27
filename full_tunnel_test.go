package transparent_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestFullTunnel sends every destination into the tunnel (AllowedIPs
// 0.0.0.0/0 and ::/0, in both exception modes). The rules of length 0 read
// back from the kernel without a destination, and still: a second Up
// writes nothing, Check is clean, Watch settles with no writes, and Down
// restores the namespace. As with wg-quick, main's routes more specific
// than its default route (A's own subnet) still win, a destination that
// takes main's default route goes through the tunnel, and the peer's
// WireGuard packets still go to the Internet (the tunnel works).
func TestFullTunnel(t *testing.T) {
	for _, mode := range []transparent.ExceptionMode{transparent.ExceptionPort, transparent.ExceptionFwMark} {
		t.Run(mode.String(), func(t *testing.T) {
			w := newArticle(t)
			fams := []family{ipv4, ipv6}
			cfgA, cfgB := ends{fams: fams, exception: mode}.configs(w)
			cfgA.Peers[0].Transparent = nil
			cfgA.Peers[0].AllowedIPs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
			cfgB.Peers[0].Transparent = nil
			cfgB.Peers[0].ExpectedEndpoint = netip.AddrPort{}
			if err := newTunnel(t, cfgB, w.B).Up(context.Background()); err != nil {
				t.Fatalf("Up B: %v", err)
			}
			before := fullDump(t, w.A)
			tun := newTunnel(t, cfgA, w.A)
			ctx := context.Background()
			if err := tun.Up(ctx); err != nil {
				t.Fatalf("Up: %v", err)
			}
			for _, f := range fams {
				w.expectClient(t, w.A, f.url(f.pubB), f.tunA) // through the tunnel
			}
			expectRoute(t, w.A, "198.51.100.254", "eth0")   // A's subnet: main wins
			expectRoute(t, w.A, "2001:db8:a::fe", "eth0")   // the same in IPv6
			expectRoute(t, w.A, "192.0.2.3", cfgA.Name)     // main's default route: the tunnel
			expectRoute(t, w.A, "2001:db8:c::3", cfgA.Name) // the same in IPv6

			up := fullDump(t, w.A)
			watch := testns.Watch(t, w.A)
			watch.Settle(200 * time.Millisecond)
			watch.Reset()
			if err := tun.Up(ctx); err != nil {
				t.Fatalf("second Up: %v", err)
			}
			if n := transparent.Writes(tun); n != 0 {
				t.Errorf("second Up made %d writes, want 0", n)
			}
			if err := tun.Check(ctx); err != nil {
				t.Errorf("Check: %v", err)
			}

			wctx, cancel := context.WithCancel(ctx)
			done := make(chan error)
			go func() { done <- tun.Watch(wctx) }()
			// A fixed window, not Settle: a Watch that loops never settles.
			time.Sleep(10 * transparent.WatchDebounce) // its first Up, and many more were it to loop
			ev := watch.Events()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Watch = %v", err)
			}
			if len(ev) != 0 || transparent.Writes(tun) != 0 {
				t.Errorf("second Up and Watch changed the kernel (the last Up made %d writes): %q", transparent.Writes(tun), ev)
			}
			expectSame(t, "A after the second Up and Watch", up, fullDump(t, w.A))

			if err := tun.Down(ctx); err != nil {
				t.Fatalf("Down: %v", err)
			}
			expectSame(t, "A after Down", before, fullDump(t, w.A))
			w.expectClient(t, w.A, ipv4.url(publicB), publicA) // over the Internet again
		})
	}
}

// expectRoute checks the device the kernel routes a packet to dst
// through, in ns, as `ip route get` shows it.
func expectRoute(t *testing.T, ns *testns.NS, dst, dev string) {
	t.Helper()
	routes, err := ns.Netlink().RouteGet(net.ParseIP(dst))
	if err != nil || len(routes) != 1 {
		t.Fatalf("route get %s in %s: %v, %v", dst, ns.Name, routes, err)
	}
	link, err := ns.Netlink().LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		t.Fatal(err)
	}
	if link.Attrs().Name != dev {
		t.Errorf("route get %s in %s: dev %s, want %s", dst, ns.Name, link.Attrs().Name, dev)
	}
}
