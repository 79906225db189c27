//go:build linux

package transparent

import (
	"log/slog"
	"net/netip"
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
			k := newScenarioFake(false)
			from, to := change.from.WithDefaults(), change.to.WithDefaults()
			log := slog.New(slog.DiscardHandler)
			steps, _ := planFor(t, k, log, from, nil)
			for _, s := range steps {
				if err := s.do(k); err != nil {
					t.Fatal(err)
				}
			}
			rec := &record{Layouts: []layout{layoutOf(from, nil)}}
			steps, _ = planFor(t, k, log, to, rec)
			check := func(when string) {
				for _, dst := range []string{"203.0.113.2", "192.0.2.5", "198.18.0.7"} {
					if got := k.lookup(netip.MustParseAddr(dst), 0, unix.IPPROTO_TCP, 443); got != to.Name {
						t.Fatalf("%s: TCP to %s leaves by %q, not the tunnel", when, dst, got)
					}
				}
				// The device's own packets carry the mark it has now.
				d, _ := k.device(to.Name)
				mark := uint32(d.FirewallMark)
				ep := to.Peers[0].Endpoint
				if got := k.lookup(ep.Addr(), mark, unix.IPPROTO_UDP, ep.Port()); got == to.Name {
					t.Fatalf("%s: the peer's WireGuard packets (mark %#x) go into the tunnel", when, mark)
				}
			}
			check("before the change")
			for _, s := range steps {
				if err := s.do(k); err != nil {
					t.Fatal(err)
				}
				check("after " + s.String())
			}
		})
	}
}

// planFor observes the fake and plans an Up of c over the record rec.
func planFor(t *testing.T, k kernel, log *slog.Logger, c Config, rec *record) ([]step, *observed) {
	t.Helper()
	o, err := observe(k, log, observation{cfg: c, owners: rec.owners(c), forUp: true})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := planUp(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return steps, o
}
