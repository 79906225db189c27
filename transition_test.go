//go:build linux

package transparent

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNoLeakDuringTransitions replays config changes step by step in the
// fake kernel, routing packets after every step as the kernel would: a
// destination that is transparent before and after the change goes into
// the tunnel at every moment (it never leaves over the Internet while the
// tunnel is up), and the peer's own WireGuard packets never go into it.
func TestNoLeakDuringTransitions(t *testing.T) {
	perDest := articleA(PeerRouteRule)
	perDest.Peers[0].Transparent = append(perDest.Peers[0].Transparent, pfx("192.0.2.0/28"), pfx("198.18.0.7/32"))
	table := perDest
	table.Rules = RulesTable
	fwmark := table
	fwmark.Exception = ExceptionFwMark
	moved := table
	moved.Priority, moved.Table = 1000, 77
	for _, change := range []struct {
		name     string
		from, to Config
	}{
		{"per destination to table", perDest, table},
		{"table to per destination", table, perDest},
		{"table, port to fwmark", table, fwmark},
		{"table, fwmark to port", fwmark, table},
		{"table, priority and table move", table, moved},
		{"per destination to a moved table", perDest, moved},
	} {
		t.Run(change.name, func(t *testing.T) {
			ctx := context.Background()
			k := newScenarioFake(false)
			tun, err := newFakeTunnel(change.from, k, filepath.Join(t.TempDir(), "state", "netns-fake"))
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			if err := tun.Up(ctx); err != nil {
				t.Fatal(err)
			}
			to := change.to.WithDefaults()
			check := func(when string) {
				for _, dst := range []string{"203.0.113.2", "192.0.2.5", "198.18.0.7"} {
					if got := k.lookup(netip.MustParseAddr(dst), 0, unix.IPPROTO_TCP, 443); got != to.Name {
						t.Fatalf("%s: TCP to %s leaves by %q, not the tunnel", when, dst, got)
					}
				}
				// The device's own packets carry the mark it has now.
				d, _ := k.Device(to.Name)
				mark := uint32(d.FirewallMark)
				ep := to.Peers[0].Endpoint
				if got := k.lookup(ep.Addr(), mark, unix.IPPROTO_UDP, ep.Port()); got == to.Name {
					t.Fatalf("%s: the peer's WireGuard packets (mark %#x) go into the tunnel", when, mark)
				}
			}
			check("before the change")
			wrapFaults(tun, 0).after = func(what string) { check("after " + what) }
			if err := tun.SetConfig(change.to); err != nil {
				t.Fatal(err)
			}
			if err := tun.Up(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
