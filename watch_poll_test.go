//go:build linux

package transparent

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wgtransparent/transparent/internal/netfilter"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestPollDrift: Watch's poll sees drift that no event announces, on the
// fake kernel: the device's settings always, the SNAT chains only when
// their firewall announces nothing (iptables-legacy) or the nf_tables
// group could not be joined; nothing after an Up or a Down. Legacy chains
// are read when their Stamp changed, or every fullReadEvery.
func TestPollDrift(t *testing.T) {
	for _, fw := range []struct {
		option    Firewall
		announced bool
	}{{FirewallNftables, true}, {FirewallIPTablesLegacy, false}} {
		t.Run(fw.option.String(), func(t *testing.T) {
			ctx := context.Background()
			k := newScenarioFake(false)
			cfg := articleA(PeerRouteRule)
			cfg.SNAT = SNATOutbound
			tun, err := newFakeTunnel(cfg, k, filepath.Join(t.TempDir(), "state", "netns-fake"), WithFirewall(fw.option))
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			if drift, _ := tun.pollDrift(true); drift {
				t.Error("drift before the first Up")
			}
			up := func() {
				t.Helper()
				if err := tun.Up(ctx); err != nil {
					t.Fatal(err)
				}
				if drift, _ := tun.pollDrift(true); drift {
					t.Fatal("drift right after Up")
				}
			}
			up()
			port := 40001
			for _, change := range []wgtypes.Config{
				{ListenPort: &port},
				{Peers: []wgtypes.PeerConfig{{PublicKey: cfg.Peers[0].PublicKey, Remove: true}}},
				{Peers: []wgtypes.PeerConfig{{PublicKey: cfg.Peers[0].PublicKey, UpdateOnly: true, ReplaceAllowedIPs: true,
					AllowedIPs: []net.IPNet{{IP: net.IPv4(10, 0, 0, 2), Mask: net.CIDRMask(32, 32)}}}}},
				{Peers: []wgtypes.PeerConfig{{PublicKey: cfg.Peers[0].PublicKey, UpdateOnly: true,
					Endpoint: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 51822}}}},
			} {
				if err := k.ConfigureDevice(cfg.Name, change); err != nil {
					t.Fatal(err)
				}
				if drift, _ := tun.pollDrift(false); !drift {
					t.Errorf("no drift seen after %+v", change)
				}
				up()
			}

			kind := netfilter.KindNftables
			if !fw.announced {
				kind = netfilter.KindIPTables + "-legacy"
			}
			(&fakeFirewall{k: k, kindName: kind}).SetChain(unix.AF_INET, cfg.Name, nil)
			if drift, _ := tun.pollDrift(false); drift == fw.announced {
				t.Errorf("emptied %s chain: drift = %v, want %v (read only when not announced)", kind, drift, !fw.announced)
			}
			if drift, _ := tun.pollDrift(true); !drift {
				t.Errorf("emptied %s chain: no drift seen when the firewall is read", kind)
			}
			up()
			if !fw.announced {
				// A rule replaced by one of the same size changes no
				// Stamp: found at the next full read, fullReadEvery.
				f := &fakeFirewall{k: k, kindName: kind}
				state, _ := f.ReadChain(unix.AF_INET, cfg.Name)
				rules := slices.Clone(state.Rules)
				rules[0].To = netip.MustParseAddr("198.51.100.99")
				f.SetChain(unix.AF_INET, cfg.Name, rules)
				if drift, _ := tun.pollDrift(false); drift {
					t.Error("a replaced rule found before the next full read")
				}
				tun.made.read = tun.made.read.Add(-fullReadEvery)
				if drift, _ := tun.pollDrift(false); !drift {
					t.Error("a replaced rule not found at the full read")
				}
				up()
			}
			if err := tun.Down(ctx); err != nil {
				t.Fatal(err)
			}
			if drift, _ := tun.pollDrift(true); drift {
				t.Error("drift after Down")
			}
		})
	}
}
