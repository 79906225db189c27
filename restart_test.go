package transparent_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestConfigChangeAfterRestart: a process brings the tunnel up and ends
// (Close, as at a restart), and the next process starts with another
// config. Its Up removes what the old config made, from the record the
// last Up left, and its Down leaves the namespace, nat tables included, as
// it was.
func TestConfigChangeAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		old         ends
		change      func(*transparent.Config)
		stale, want []string // in the dump after the second Up
	}{
		{
			name: "priorities, table and SNAT off",
			old:  ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound},
			change: func(c *transparent.Config) {
				c.Priority, c.Table, c.SNAT = 1000, 77, transparent.SNATOff
			},
			stale: []string{"rule4 455:", "rule4 456:", "rule4 457:", "table 123", snatMarker(ipv4)},
			want:  []string{"rule4 1000:", "rule4 1001:", "rule4 1002:", "table 77"},
		},
		{
			name: "IPv6 dropped with SNAT on",
			old:  ends{fams: []family{ipv4, ipv6}, snatA: transparent.SNATOutbound},
			change: func(c *transparent.Config) {
				c.Addresses = c.Addresses[:1]
				p := &c.Peers[0]
				p.AllowedIPs, p.Transparent = p.AllowedIPs[:1], p.Transparent[:1]
			},
			stale: []string{snatMarker(ipv6), "rule6 45"},
			want:  []string{snatMarker(ipv4), "rule4 456:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireIPTables(t)
			w := newArticle(t)
			before := fullDump(t, w.A)
			old, _ := tc.old.configs(w)
			changed := old
			changed.Addresses = append([]netip.Prefix(nil), old.Addresses...)
			changed.Peers = []transparent.Peer{old.Peers[0]}
			tc.change(&changed)
			ctx := context.Background()

			first := newTunnel(t, old, w.A)
			if err := first.Up(ctx); err != nil {
				t.Fatalf("Up with the old config: %v", err)
			}
			first.Close()

			next := newTunnel(t, changed, w.A)
			if err := next.Up(ctx); err != nil {
				t.Fatalf("Up with the changed config: %v", err)
			}
			if err := next.Check(ctx); err != nil {
				t.Errorf("Check: %v", err)
			}
			d := fullDump(t, w.A)
			for _, s := range tc.stale {
				if strings.Contains(d, s) {
					t.Errorf("the old config's %q is still there:\n%s", s, d)
				}
			}
			for _, s := range tc.want {
				if !strings.Contains(d, s) {
					t.Errorf("the new config's %q is missing:\n%s", s, d)
				}
			}
			if err := next.Down(ctx); err != nil {
				t.Fatalf("Down: %v", err)
			}
			expectSame(t, "after Down", before, fullDump(t, w.A))
		})
	}
}
