//go:build linux

package transparent

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/wgtransparent/transparent/internal/inet"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestNoLeakDuringFailover replays the transitions of Fallback step by
// step in the fake kernel, routing packets after every step as the kernel
// would: in block mode a Transparent destination goes into the tunnel or
// is refused at every moment, never over the main table (from the first
// rule of an Up until Down removes them, which is the operator's
// choice); in internet mode it goes into the tunnel or over main, never
// nowhere; the peer's tunnel address (the health probes) stays in the
// tunnel and its WireGuard packets out of it throughout.
func TestNoLeakDuringFailover(t *testing.T) {
	base := articleA(PeerRouteRule)
	base.Peers[0].Transparent = append(base.Peers[0].Transparent, pfx("192.0.2.0/28"), pfx("198.18.0.7/32"))
	dsts := []string{"203.0.113.2", "192.0.2.5", "198.18.0.7"}
	key := base.Peers[0].PublicKey
	healthy, failed := map[wgtypes.Key]bool(nil), map[wgtypes.Key]bool{key: true}
	type up struct {
		c      Config
		failed map[wgtypes.Key]bool
	}
	for _, mode := range []RuleMode{RulesPerDestination, RulesTable} {
		for _, fb := range []Fallback{FallbackBlock, FallbackInternet} {
			c := base
			c.Rules = mode
			c.Peers = []Peer{base.Peers[0]}
			c.Peers[0].Fallback = fb
			more := c // SetConfig while failed over: one more destination, the other rule mode
			more.Peers = []Peer{c.Peers[0]}
			more.Peers[0].Transparent = append(append([]netip.Prefix(nil), c.Peers[0].Transparent...), pfx("198.18.1.0/24"))
			more.Rules = RulesTable - mode
			for _, tr := range []struct {
				name string
				ups  []up // the first brings it up unchecked, the others are checked step by step
				down bool // then Down of the last config, checked
			}{
				{"up", []up{{c, healthy}}, false},
				{"up while failed over", []up{{c, failed}}, false},
				{"failover", []up{{c, healthy}, {c, failed}}, false},
				{"failback", []up{{c, healthy}, {c, failed}, {c, healthy}}, false},
				{"set config while failed over", []up{{c, healthy}, {c, failed}, {more, failed}}, false},
				{"set config back while failed over", []up{{more, failed}, {c, failed}}, false},
				{"down while failed over", []up{{c, failed}}, true},
			} {
				t.Run(mode.String()+"/"+fb.String()+"/"+tr.name, func(t *testing.T) {
					ctx := context.Background()
					k := newScenarioFake(false)
					tun, err := newFakeTunnel(tr.ups[0].c, k, filepath.Join(t.TempDir(), "state", "netns-fake"))
					if err != nil {
						t.Fatal(err)
					}
					defer tun.Close()
					cur := tr.ups[0].c.WithDefaults()
					// ruled reports whether a rule of ours leads dst to Table.
					ruled := func(dst netip.Addr) bool {
						rules, _ := k.Rules(unix.AF_INET)
						for _, r := range rules {
							if r.Protocol == RouteProtocol && r.Table == cur.Table && (r.Dst == nil || inet.PrefixOf(r.Dst).Contains(dst)) {
								return true
							}
						}
						return false
					}
					check := func(when string) {
						t.Helper()
						for _, d := range dsts {
							dst := netip.MustParseAddr(d)
							got := k.lookup(dst, 0, unix.IPPROTO_TCP, 443)
							switch {
							case got == "":
								t.Fatalf("%s: TCP to %s is routed nowhere", when, dst)
							case fb == FallbackBlock && ruled(dst) && got != cur.Name && got != unreachable:
								t.Fatalf("%s: TCP to %s leaves by %q unencrypted", when, dst, got)
							case fb == FallbackInternet && got == unreachable:
								t.Fatalf("%s: TCP to %s is refused in internet mode", when, dst)
							}
						}
						if probe := netip.MustParseAddr("10.0.0.2"); ruled(probe) {
							if got := k.lookup(probe, 0, unix.IPPROTO_ICMP, 0); got != cur.Name {
								t.Fatalf("%s: the probe to 10.0.0.2 leaves by %q, not the tunnel", when, got)
							}
						}
						ep := cur.Peers[0].Endpoint
						if got := k.lookup(ep.Addr(), 0, unix.IPPROTO_UDP, ep.Port()); got == cur.Name || got == unreachable {
							t.Fatalf("%s: the peer's WireGuard packets leave by %q", when, got)
						}
					}
					checking := false
					wrapFaults(tun, 0).after = func(what string) {
						if checking {
							check("after " + what)
						}
					}
					for i, u := range tr.ups {
						cur = u.c.WithDefaults()
						if err := tun.SetConfig(u.c); err != nil {
							t.Fatal(err)
						}
						// The peer's state as Watch records it (before the
						// first Up: as a process before this one left it).
						state := PeerThroughTunnel
						if u.failed[key] {
							state = unhealthyState(fb)
						}
						end, err := tun.begin(ctx, "test")
						if err != nil {
							t.Fatal(err)
						}
						rec, err := tun.readRecord()
						if err == nil && rec == nil {
							rec = (*record)(nil).with(layoutOf(cur, nil))
						}
						if err == nil {
							rec.Peers = []peerRecord{{PublicKey: key, State: state}}
							err = tun.writeRecord(rec)
						}
						end()
						if err != nil {
							t.Fatal(err)
						}
						checking = i > 0 || len(tr.ups) == 1
						if err := tun.Up(ctx); err != nil {
							t.Fatal(err)
						}
						want := cur.Name
						if u.failed[key] {
							want = map[Fallback]string{FallbackBlock: unreachable, FallbackInternet: "eth0"}[fb]
						}
						if got := k.lookup(netip.MustParseAddr("203.0.113.2"), 0, unix.IPPROTO_TCP, 443); got != want {
							t.Fatalf("after Up %d: TCP to 203.0.113.2 leaves by %q, want %q", i, got, want)
						}
					}
					if tr.down {
						checking = true
						if err := tun.Down(ctx); err != nil {
							t.Fatal(err)
						}
						if got := k.lookup(netip.MustParseAddr("203.0.113.2"), 0, unix.IPPROTO_TCP, 443); got != "eth0" {
							t.Fatalf("after Down: TCP to 203.0.113.2 leaves by %q, want eth0", got)
						}
					}
				})
			}
		}
	}
}

// TestBlockHoldsWithoutTheDevice: in block mode, when the device goes (its
// link deleted, as when the process running the embedded device is
// killed), the kernel refuses the Transparent destinations with no process
// running; in internet mode they fall through to main.
func TestBlockHoldsWithoutTheDevice(t *testing.T) {
	for fb, want := range map[Fallback]string{FallbackBlock: unreachable, FallbackInternet: "eth0", FallbackNone: "eth0"} {
		c := articleA(PeerRouteRule)
		c.Peers[0].Fallback = fb
		c = c.WithDefaults()
		k := newScenarioFake(false)
		tun, err := newFakeTunnel(c, k, filepath.Join(t.TempDir(), "state", "netns-fake"))
		if err != nil {
			t.Fatal(err)
		}
		if err := tun.Up(context.Background()); err != nil {
			t.Fatal(err)
		}
		tun.Close()
		if err := k.DeleteLink(c.Name); err != nil {
			t.Fatal(err)
		}
		if got := k.lookup(netip.MustParseAddr("203.0.113.2"), 0, unix.IPPROTO_TCP, 443); got != want {
			t.Errorf("%s: with the link gone TCP to 203.0.113.2 leaves by %q, want %q", fb, got, want)
		}
	}
}
