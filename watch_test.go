package transparent_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestWatchRepairs: with Watch running, a rule deleted by someone else
// comes back, and Watch ends with its context.
func TestWatchRepairs(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tun.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
		tun.Down(context.Background())
	}()

	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.Protocol = 456, 123, transparent.RouteProtocol
	rule.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2).To4(), Mask: net.CIDRMask(32, 32)}
	hasRule := func() bool {
		rules, err := w.A.Netlink().RuleListFiltered(netlink.FAMILY_V4, rule, netlink.RT_FILTER_PRIORITY)
		return err == nil && len(rules) == 1
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("Watch's first Up", hasRule)
	if err := w.A.Netlink().RuleDel(rule); err != nil {
		t.Fatal(err)
	}
	waitFor("Watch to put the deleted rule back", hasRule)
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
}

// TestDriftFoundWithoutEvents: with Watch running, drift that no netlink
// event announces is repaired within a bounded wait: the device's allowed
// IPs, peer, listen port and private key changed as `wg set` would, the
// nf_tables SNAT table deleted (announced by the nf_tables group, not by
// rtnetlink), and the SNAT chain flushed with iptables-nft (announced by
// that group too) and iptables-legacy (announced by nothing). Each repair's time is printed; Watch polls the
// device every WatchPollInterval, so each takes about a second or less.
func TestDriftFoundWithoutEvents(t *testing.T) {
	requireIPTables(t)
	const bound = 10 * time.Second // generous: the aim is 2 s
	for _, fw := range []struct {
		name   string
		option transparent.Firewall
	}{{"nftables", transparent.FirewallNftables}, {"iptables-nft", transparent.FirewallIPTablesNFT}, {"iptables-legacy", transparent.FirewallIPTablesLegacy}} {
		t.Run(fw.name, func(t *testing.T) {
			w := newArticle(t)
			cfg := w.configA(transparent.PeerRouteRule)
			cfg.Name = "wgdr" + randHex(t)
			cfg.SNAT = transparent.SNATOutbound
			logs := &syncBuffer{}
			tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithBackend(testBackend()), transparent.WithFirewall(fw.option),
				transparent.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() {
				tun.Close()
				if t.Failed() {
					t.Logf("%+v; the tunnel's log:\n%s", tun.Stats(), logs.String())
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- tun.Watch(ctx) }()
			defer func() {
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Watch = %v, want context.Canceled", err)
				}
				if err := tun.Down(context.Background()); err != nil {
					t.Errorf("Down: %v", err)
				}
			}()

			peer := w.keyB.PublicKey()
			deviceOK := func() bool {
				d, err := tun.Device()
				if err != nil || d == nil || d.ListenPort != cfg.ListenPort || d.PrivateKey != cfg.PrivateKey || len(d.Peers) != 1 {
					return false
				}
				var got []string
				for _, n := range d.Peers[0].AllowedIPs {
					got = append(got, n.String())
				}
				slices.Sort(got)
				return d.Peers[0].PublicKey == peer && slices.Equal(got, []string{"10.0.0.2/32", "203.0.113.2/32"})
			}
			snatOK := func() bool { return hasSNATRule(w.A, fw.name, cfg.Name) }
			settled := func() bool { return deviceOK() && snatOK() && tun.Check(context.Background()) == nil }
			// Up's own writes are changes the kernel announces: Watch runs
			// another Up (a no-op) WatchDebounce after them. The drifts
			// below must come after it, or it would repair them unseen.
			quiet := func() bool { return stableFor(settled, 10*transparent.WatchDebounce) }
			waitUntil(t, "Watch's first Up and the one after it", bound, quiet)

			wgSet := func(c wgtypes.Config) func() error {
				return func() error {
					return w.A.Do(func() error {
						wg, err := wgctrl.New()
						if err != nil {
							return err
						}
						defer wg.Close()
						return wg.ConfigureDevice(cfg.Name, c)
					})
				}
			}
			otherPort, otherKey := 40001, genKey(t)
			drifts := []struct {
				name     string
				drift    func() error
				repaired func() bool
			}{
				{"allowed IPs changed", wgSet(wgtypes.Config{Peers: []wgtypes.PeerConfig{{
					PublicKey: peer, UpdateOnly: true, ReplaceAllowedIPs: true,
					AllowedIPs: []net.IPNet{{IP: tunB.AsSlice(), Mask: net.CIDRMask(32, 32)}},
				}}}), deviceOK},
				{"peer removed", wgSet(wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: peer, Remove: true}}}), deviceOK},
				{"listen port changed", wgSet(wgtypes.Config{ListenPort: &otherPort}), deviceOK},
				{"private key changed", wgSet(wgtypes.Config{PrivateKey: &otherKey}), deviceOK},
			}
			if fw.name == "nftables" {
				drifts = append(drifts, struct {
					name     string
					drift    func() error
					repaired func() bool
				}{"nft table deleted", func() error {
					conn, err := nftables.New(nftables.WithNetNSFd(int(w.A.Handle)))
					if err != nil {
						return err
					}
					conn.DelTable(&nftables.Table{Name: "wgtransparent-" + cfg.Name, Family: nftables.TableFamilyIPv4})
					return conn.Flush()
				}, snatOK})
			} else {
				drifts = append(drifts, struct {
					name     string
					drift    func() error
					repaired func() bool
				}{fw.name + " chain flushed", func() error {
					return w.A.Do(func() error { return run(fw.name, "-t", "nat", "-F", "WGT-"+cfg.Name) })
				}, snatOK})
			}
			for _, d := range drifts {
				repairs := tun.Stats().DriftRepairs
				if err := d.drift(); err != nil {
					t.Fatalf("%s: %v", d.name, err)
				}
				if d.repaired() {
					dev, err := tun.Device()
					t.Fatalf("%s: no drift to see; the device now: %+v (err %v)", d.name, dev, err)
				}
				start := time.Now()
				waitUntil(t, d.name+" repaired", bound, d.repaired)
				took := time.Since(start)
				waitUntil(t, "the repair of "+d.name+" to settle", bound, quiet)
				if got := tun.Stats().DriftRepairs; got <= repairs {
					t.Errorf("%s: DriftRepairs = %d, want more than %d", d.name, got, repairs)
				}
				t.Logf("%s: repaired in %v", d.name, took.Round(time.Millisecond))
			}
		})
	}
}

// waitUntil polls cond until it holds, failing the test after bound.
func waitUntil(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(bound); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", bound, what)
		}
	}
}

// stableFor reports whether cond holds now and at every check for d.
func stableFor(cond func() bool, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !cond() {
			return false
		}
	}
	return cond()
}

// hasSNATRule reports whether ns holds the article's SNAT rule of the
// tunnel called name, with the jump to it, in the firewall called fw
// ("nftables", or the iptables command of a variant).
func hasSNATRule(ns *testns.NS, fw, name string) bool {
	if fw != "nftables" {
		var out []byte
		ns.Do(func() error {
			out, _ = exec.Command(fw+"-save", "-t", "nat").Output()
			return nil
		})
		s := string(out)
		return strings.Contains(s, "-A WGT-"+name+" -s 10.0.0.1/32 -d 203.0.113.2/32") && strings.Contains(s, "-j WGT-"+name)
	}
	var out []byte
	ns.Do(func() error {
		out, _ = exec.Command("nft", "list", "table", "ip", "wgtransparent-"+name).Output()
		return nil
	})
	s := string(out)
	return strings.Contains(s, "ip saddr 10.0.0.1 ip daddr 203.0.113.2") && strings.Contains(s, "snat") && strings.Contains(s, "jump snat_rules")
}
