package transparent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestForeignFirewallObjects: a table or chain with the tunnel's name
// that the tunnel did not make (every rule it makes carries its comment)
// is refused with ErrConflict by Up, Plan, Check and Down, and nothing in
// the namespace changes, the operator's set, chains and rules included.
func TestForeignFirewallObjects(t *testing.T) {
	requireIPTables(t)
	for _, tc := range []struct {
		name   string
		fw     transparent.Firewall
		plant  func(t *testing.T, ns *testns.NS, name string)
		naming string // what the error must name
	}{
		{"nftables table with a set and chain of its own", transparent.FirewallNftables, func(t *testing.T, ns *testns.NS, name string) {
			plantNft(t, ns, name, "mine", true)
		}, "set blocked"},
		{"nftables table with an unmarked rule in our chain's name", transparent.FirewallNftables, func(t *testing.T, ns *testns.NS, name string) {
			plantNft(t, ns, name, "snat_rules", false)
		}, "without the comment"},
		{"iptables-nft chain with a rule without our comment", transparent.FirewallIPTablesNFT, func(t *testing.T, ns *testns.NS, name string) {
			if err := ns.Do(func() error {
				if err := run("iptables-nft", "-t", "nat", "-N", "WGT-"+name); err != nil {
					return err
				}
				return run("iptables-nft", "-t", "nat", "-A", "WGT-"+name, "-d", "192.0.2.99", "-j", "RETURN")
			}); err != nil {
				t.Fatal(err)
			}
		}, "192.0.2.99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newArticle(t)
			cfg, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
			tc.plant(t, w.A, cfg.Name)
			before := exactDump(t, w.A)
			tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithFirewall(tc.fw), transparent.WithBackend(testBackend()))
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			ctx := context.Background()
			_, planErr := tun.Plan(ctx)
			for what, err := range map[string]error{"Up": tun.Up(ctx), "Plan": planErr, "Check": tun.Check(ctx), "Down": tun.Down(ctx)} {
				if !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), tc.naming) {
					t.Errorf("%s = %v\nwant ErrConflict naming %q", what, err, tc.naming)
				}
			}
			expectSame(t, "A after refusing a foreign table", before, exactDump(t, w.A))
		})
	}
}

// plantNft makes, as an operator could, the nf_tables table the tunnel
// would use, with a chain (named chain) holding a rule without the
// tunnel's comment, and, with set, a set of its own.
func plantNft(t *testing.T, ns *testns.NS, name, chain string, set bool) {
	t.Helper()
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	table := conn.AddTable(&nftables.Table{Name: "wgtransparent-" + name, Family: nftables.TableFamilyIPv4})
	if set {
		if err := conn.AddSet(&nftables.Set{Table: table, Name: "blocked", KeyType: nftables.TypeIPAddr}, nil); err != nil {
			t.Fatal(err)
		}
	}
	c := conn.AddChain(&nftables.Chain{Name: chain, Table: table})
	conn.AddRule(&nftables.Rule{Table: table, Chain: c, Exprs: []expr.Any{&expr.Counter{}}})
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
}
