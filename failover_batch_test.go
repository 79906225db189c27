//go:build linux

package transparent

import (
	"context"
	"net/netip"
	"testing"

	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// TestBlockRoutesBatched: the kill switch's unreachable routes go through
// the batched route writes on the real kernel, IPv4 and IPv6: Up makes
// one per destination at BlockMetric beside the route through the link, a
// second Up and Check find nothing to do, and Down removes all of them.
func TestBlockRoutesBatched(t *testing.T) {
	ns := testns.New(t, "fobatch")
	c := manyDestinations(100, 2)
	c.Addresses = append(c.Addresses, pfx("fd00::1/128"))
	c.Peers[0].AllowedIPs = append(c.Peers[0].AllowedIPs, pfx("fd00::2/128"))
	for i := 1; i < 50; i++ {
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xb, 14: byte(i >> 8), 15: byte(2 * i)}), 128))
	}
	c.Peers[0].Fallback = FallbackBlock
	c.Name = "wgfor" + randomHex(t)
	tun, err := New(c, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	before, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[int]int{unix.AF_INET: 100, unix.AF_INET6: 49}
	count := func(fam int) (blocked, through int) {
		t.Helper()
		rs, err := tun.k.Routes(fam, DefaultTable)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			switch {
			case r.Protocol != RouteProtocol:
			case r.Type == unix.RTN_UNREACHABLE && r.Priority == BlockMetric:
				blocked++
			case r.Type == unix.RTN_UNICAST:
				through++
			}
		}
		return blocked, through
	}
	for fam, n := range want {
		if blocked, through := count(fam); blocked != n || through < 1 {
			t.Errorf("family %d: %d unreachable routes and %d through the link, want %d and some", fam, blocked, through, n)
		}
	}
	// Blocked: the routes through the link go, in batches that leave the
	// unreachable routes to the same destinations alone.
	if err := tun.recordPeerStates(ctx, []peerRecord{{PublicKey: c.Peers[0].PublicKey, State: PeerBlocked}}); err != nil {
		t.Fatal(err)
	}
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for fam, n := range want {
		if blocked, through := count(fam); blocked != n || through != 1 {
			t.Errorf("blocked, family %d: %d unreachable routes and %d through the link, want %d and the probe's", fam, blocked, through, n)
		}
	}
	if err := tun.Up(ctx); err != nil || tun.writes != 0 {
		t.Errorf("second Up: %v, %d writes; want none", err, tun.writes)
	}
	if err := tun.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	if diff := testns.Diff(before, after); diff != "" {
		t.Errorf("after Down:\n%s", diff)
	}
}
