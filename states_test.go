//go:build linux

package transparent

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"github.com/wgtransparent/transparent/internal/state"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// goldens are TestStates' golden files, in the test binary.
//
//go:embed testdata/states
var goldens embed.FS

// update rewrites the golden files of TestStates.
var update = flag.Bool("update", false, "rewrite testdata/states/*.txt from the fake kernel")

// A state scenario: configs brought up in order (each a transition from
// the one before), an optional change to the kernel (drift, foreign
// objects), then the operation under test, Up of the last config or
// Down. Its golden file holds the plan of that operation and the state
// after it.
type stateScenario struct {
	name    string
	configs []Config                    // Up of each in turn; the last is the one under test
	change  func(k kernel, name string) // after all but the last Up; name is the tunnel's
	down    bool                        // the operation under test is Down of the last config
	wantErr error                       // the operation is refused with this error
	lost    bool                        // the other tunnels' records are lost before the operation
	fw      Firewall                    // WithFirewall
	// unhealthy lists, per config, the indexes of its peers that are out
	// of the tunnel (failed over or blocked) at its Up: the health input.
	unhealthy [][]int
}

// failedAt is the health input of the Up of config i of sc.
func (sc stateScenario) failedAt(i int, c Config) map[wgtypes.Key]bool {
	if i >= len(sc.unhealthy) || len(sc.unhealthy[i]) == 0 {
		return nil
	}
	failed := map[wgtypes.Key]bool{}
	for _, p := range sc.unhealthy[i] {
		failed[c.Peers[p].PublicKey] = true
	}
	return failed
}

// underlay is the public side of the article's A in the scenarios.
var (
	underlayAddrs = []netip.Prefix{pfx("198.51.100.1/24"), pfx("2001:db8:a::1/64")}
	underlayGWs   = []netip.Addr{netip.MustParseAddr("198.51.100.254"), netip.MustParseAddr("2001:db8:a::fffe")}
)

// with is c changed by f, c's slices left as they were.
func with(c Config, f func(*Config)) Config {
	c.Addresses = slices.Clone(c.Addresses)
	c.PublicAddresses = slices.Clone(c.PublicAddresses)
	c.Peers = slices.Clone(c.Peers)
	for i := range c.Peers {
		p := &c.Peers[i]
		p.AllowedIPs, p.Transparent = slices.Clone(p.AllowedIPs), slices.Clone(p.Transparent)
	}
	f(&c)
	return c
}

func stateScenarios() []stateScenario {
	rule, prefix, main := articleA(PeerRouteRule), articleA(PeerRoutePrefix), articleA(PeerRouteMain)
	fwmark := with(rule, func(c *Config) { c.Exception = ExceptionFwMark })
	v6 := with(rule, func(c *Config) {
		c.Addresses = []netip.Prefix{pfx("fd00::1/128")}
		c.Peers[0].Endpoint = netip.MustParseAddrPort("[2001:db8:b::2]:51822")
		c.Peers[0].AllowedIPs = []netip.Prefix{pfx("fd00::2/128")}
		c.Peers[0].Transparent = []netip.Prefix{pfx("2001:db8:b::2/128")}
	})
	dual := with(rule, func(c *Config) {
		c.Addresses = append(c.Addresses, pfx("fd00::1/128"))
		c.Peers[0].AllowedIPs = append(c.Peers[0].AllowedIPs, pfx("fd00::2/128"))
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, pfx("2001:db8:b::2/128"))
	})
	snatOut := with(rule, func(c *Config) { c.SNAT = SNATOutbound })
	snatIn := with(rule, func(c *Config) {
		c.SNAT = SNATInbound
		c.PublicAddresses = []netip.Addr{netip.MustParseAddr("198.51.100.1")}
	})
	dualSNAT := with(dual, func(c *Config) { c.SNAT = SNATOutbound })
	moved := with(rule, func(c *Config) { c.Priority, c.Table = 1000, 77 })
	many := with(rule, func(c *Config) {
		c.Peers[0].Transparent = []netip.Prefix{pfx("203.0.113.2/32"), pfx("192.0.2.10/32"), pfx("192.0.2.11/32"), pfx("198.18.0.0/24")}
	})
	twoPeers := with(rule, func(c *Config) {
		c.Peers = append(c.Peers, Peer{
			PublicKey:   testKey(3).PublicKey(),
			Endpoint:    netip.MustParseAddrPort("192.0.2.7:51823"),
			AllowedIPs:  []netip.Prefix{pfx("10.0.0.3/32")},
			Transparent: []netip.Prefix{pfx("192.0.2.7/32")},
		})
	})
	delRuleAt := func(prio int) func(kernel, string) {
		return func(k kernel, _ string) {
			rules, _ := k.Rules(unix.AF_INET)
			for _, r := range rules {
				if r.Priority == prio {
					k.DelRule(r)
					return
				}
			}
		}
	}
	foreignRule := func(k kernel, _ string) {
		r := netlink.NewRule()
		r.Priority, r.Table, r.Family = 456, 200, unix.AF_INET
		r.Dst = inet.IPNet(pfx("192.0.2.99/32"))
		k.AddRule(*r)
	}
	table := with(rule, func(c *Config) { c.Rules = RulesTable })
	full := with(rule, func(c *Config) { c.Peers[0].Transparent = []netip.Prefix{pfx("0.0.0.0/0")} })
	ours := []stateScenario{
		{name: "table rules from nothing", configs: []Config{table}},
		{name: "table rules prefix", configs: []Config{with(prefix, func(c *Config) { c.Rules = RulesTable })}},
		{name: "table rules main", configs: []Config{with(main, func(c *Config) { c.Rules = RulesTable })}},
		{name: "table rules fwmark", configs: []Config{with(fwmark, func(c *Config) { c.Rules = RulesTable })}},
		{name: "table rules dual stack", configs: []Config{with(dual, func(c *Config) { c.Rules = RulesTable })}},
		{name: "table rules snat outbound", configs: []Config{with(snatOut, func(c *Config) { c.Rules = RulesTable })}, fw: FirewallNftables},
		{name: "table rules snat inbound", configs: []Config{with(snatIn, func(c *Config) { c.Rules = RulesTable })}, fw: FirewallIPTablesNFT},
		{name: "table rules two peers", configs: []Config{with(twoPeers, func(c *Config) { c.Rules = RulesTable })}},
		{name: "per destination to table rules", configs: []Config{many, with(many, func(c *Config) { c.Rules = RulesTable })}},
		{name: "table rules to per destination", configs: []Config{with(many, func(c *Config) { c.Rules = RulesTable }), many}},
		{name: "table rules: foreign route in the table", configs: []Config{table, table}, wantErr: ErrConflict, change: func(k kernel, _ string) {
			eth, _ := k.Link("eth0")
			addForeignRoute(k, netlink.Route{LinkIndex: eth.Index, Dst: inet.IPNet(pfx("192.0.2.60/32")), Table: 123,
				Family: unix.AF_INET, Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC})
		}},
		{name: "table rules: table rule deleted", configs: []Config{table, table}, change: delRuleAt(456)},
		{name: "table rules down", configs: []Config{table, table}, down: true},

		{name: "rule from nothing", configs: []Config{rule}},
		{name: "prefix from nothing", configs: []Config{prefix}},
		{name: "main from nothing", configs: []Config{main}},
		{name: "fwmark from nothing", configs: []Config{fwmark}},
		{name: "ipv6 from nothing", configs: []Config{v6}},
		{name: "dual stack from nothing", configs: []Config{dual}},
		{name: "aggregated destinations", configs: []Config{many}},
		{name: "two peers", configs: []Config{twoPeers}},
		{name: "two peers fwmark", configs: []Config{with(twoPeers, func(c *Config) { c.Exception = ExceptionFwMark })}},
		{name: "snat outbound nftables", configs: []Config{snatOut}, fw: FirewallNftables},
		{name: "snat outbound iptables", configs: []Config{snatOut}, fw: FirewallIPTablesNFT},
		{name: "snat outbound iptables legacy", configs: []Config{snatOut}, fw: FirewallIPTablesLegacy},
		{name: "snat inbound nftables", configs: []Config{snatIn}, fw: FirewallNftables},
		{name: "snat inbound iptables", configs: []Config{snatIn}, fw: FirewallIPTablesNFT},
		{name: "snat dual stack", configs: []Config{dualSNAT}, fw: FirewallNftables},
		{name: "up twice writes nothing", configs: []Config{rule, rule}},
		{name: "snat up twice writes nothing", configs: []Config{snatOut, snatOut}, fw: FirewallNftables},
		{name: "rule to prefix", configs: []Config{rule, prefix}},
		{name: "rule to main", configs: []Config{rule, main}},
		{name: "main to rule", configs: []Config{main, rule}},
		{name: "port to fwmark", configs: []Config{rule, fwmark}},
		{name: "fwmark to port", configs: []Config{fwmark, rule}},
		{name: "priority and table move", configs: []Config{rule, moved}},
		{name: "snat on", configs: []Config{rule, snatOut}, fw: FirewallNftables},
		{name: "snat off", configs: []Config{snatOut, rule}, fw: FirewallNftables},
		{name: "snat outbound to inbound", configs: []Config{snatOut, snatIn}, fw: FirewallNftables},
		{name: "a peer removed", configs: []Config{twoPeers, rule}},
		{name: "destinations change", configs: []Config{many, rule}},
		{name: "ipv6 added", configs: []Config{rule, dual}},
		{name: "drift: rule deleted", configs: []Config{rule, rule}, change: delRuleAt(456)},
		{name: "drift: exception deleted", configs: []Config{rule, rule}, change: delRuleAt(455)},
		{name: "drift: route deleted", configs: []Config{rule, rule}, change: func(k kernel, name string) {
			k.DelRoute(name, linuxnet.Route{Dst: pfx("203.0.113.2/32"), Table: 123})
		}},
		{name: "drift: link down", configs: []Config{rule, rule}, change: func(k kernel, name string) { k.SetDown(name) }},
		{name: "drift: dual stack link down", configs: []Config{dual, dual}, change: func(k kernel, name string) { k.SetDown(name) }},
		{name: "drift: address removed", configs: []Config{rule, rule}, change: func(k kernel, name string) { k.DelAddress(name, pfx("10.0.0.1/32")) }},
		{name: "drift: mtu changed", configs: []Config{rule, rule}, change: func(k kernel, name string) { k.SetMTU(name, 1300) }},
		{name: "drift: snat chain deleted", configs: []Config{snatOut, snatOut}, fw: FirewallNftables, change: func(k kernel, name string) {
			fw, _ := k.Firewall(netfilter.WantNftables)
			fw.DeleteChain(unix.AF_INET, name)
		}},
		{name: "foreign rule at our priority", configs: []Config{rule}, change: foreignRule, wantErr: ErrConflict},
		{name: "foreign rule over a running tunnel", configs: []Config{rule, rule}, change: foreignRule, wantErr: ErrConflict},
		{name: "foreign route in our table", configs: []Config{rule}, wantErr: ErrConflict, change: func(k kernel, _ string) {
			eth, _ := k.Link("eth0")
			addForeignRoute(k, netlink.Route{LinkIndex: eth.Index, Dst: inet.IPNet(pfx("192.0.2.50/32")), Table: 123,
				Family: unix.AF_INET, Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC})
		}},
		{name: "foreign route in main where PeerRouteMain wants one", configs: []Config{main}, wantErr: ErrConflict, change: func(k kernel, _ string) {
			eth, _ := k.Link("eth0")
			addForeignRoute(k, netlink.Route{LinkIndex: eth.Index, Dst: inet.IPNet(pfx("10.0.0.2/32")), Table: inet.TableMain,
				Family: unix.AF_INET, Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC, Type: unix.RTN_UNICAST})
		}},
		{name: "full tunnel", configs: []Config{full}},
		{name: "per destination to full tunnel", configs: []Config{with(rule, func(c *Config) { c.Peers[0].Transparent = []netip.Prefix{pfx("192.0.2.9/32")} }), full}},
		{name: "full tunnel in table mode", configs: []Config{with(full, func(c *Config) { c.Rules = RulesTable })}},
		{name: "another tunnel beside", configs: []Config{with(moved, func(c *Config) { c.Name, c.ListenPort = "wg1", 51830 }), rule}},
		{name: "down", configs: []Config{rule, rule}, down: true},
		{name: "down with snat", configs: []Config{snatOut, snatOut}, down: true, fw: FirewallNftables},
		{name: "down with a changed config", configs: []Config{rule, moved}, down: true},
		{name: "another tunnel's rules whose record is lost", lost: true, wantErr: ErrConflict,
			configs: []Config{with(rule, func(c *Config) { c.Name, c.ListenPort = "wg1", 51830 }), rule}},
		{name: "another tunnel's rules in table mode whose record is lost", lost: true, wantErr: ErrConflict,
			configs: []Config{with(table, func(c *Config) { c.Name, c.ListenPort = "wg1", 51830 }), table}},
		{name: "down beside another tunnel", configs: []Config{with(moved, func(c *Config) { c.Name, c.ListenPort = "wg1", 51830 }), rule, rule}, down: true},
		{name: "down of a tunnel that is not up", configs: []Config{rule}, down: true},
	}
	return append(append(ours, nameScenarios()...), failoverScenarios()...) // names_test.go, failover_states_test.go
}

// openTunnel makes a scenario's Tunnel, as a process would.
type openTunnel func(fw Firewall) (*Tunnel, error)

// scenarioRun runs a scenario on the Tunnels open makes, one per tunnel
// name, and returns the plan of the operation under test and the state
// after it, both as text, with the tunnel's names replaced by "wg0",
// "wg1".
func scenarioRun(open openTunnel, sc stateScenario, names map[string]string) (plan, state string, err error) {
	ctx := context.Background()
	tunnels := map[string]*Tunnel{}
	defer func() {
		for _, tun := range tunnels {
			tun.Close()
		}
	}()
	// The scenarios' configs are as Up sees them: names resolved into
	// Transparent, some that Validate refuses (a full tunnel through
	// Transparent). They are given to the Tunnel as they are.
	tunnel := func(c Config) (*Tunnel, error) {
		tun, ok := tunnels[c.Name]
		if !ok {
			var err error
			if tun, err = open(sc.fw); err != nil {
				return nil, err
			}
			tunnels[c.Name] = tun
		}
		c.Peers = slices.Clone(c.Peers)
		for i := range c.Peers {
			c.Peers[i].TransparentNames = nil
		}
		tun.mu.Lock()
		defer tun.mu.Unlock()
		tun.cfg = c.WithDefaults()
		tun.log = tun.log.With("tunnel", c.Name)
		return tun, nil
	}
	last := len(sc.configs) - 1
	for i, c := range sc.configs[:last] {
		tun, err := tunnel(c)
		if err == nil {
			err = setHealth(tun, sc.failedAt(i, tun.cfg))
		}
		if err == nil {
			err = tun.Up(ctx)
		}
		if err != nil {
			return "", "", fmt.Errorf("up of config %d: %w", i, err)
		}
	}
	tun, err := tunnel(sc.configs[last])
	if err != nil {
		return "", "", err
	}
	c := tun.cfg
	if err := setHealth(tun, sc.failedAt(last, c)); err != nil {
		return "", "", err
	}
	if sc.change != nil {
		sc.change(tun.k, c.Name)
	}
	if sc.lost {
		for name, other := range tunnels {
			if name != c.Name {
				if err := os.Remove(other.recordPath()); err != nil {
					return "", "", err
				}
			}
		}
	}
	var b strings.Builder
	if sc.down {
		steps, perr := downPlan(ctx, tun)
		if perr != nil {
			return "", "", perr
		}
		for _, s := range steps {
			fmt.Fprintf(&b, "%-7s %s\n", s.op(), s.command())
		}
		err = tun.Down(ctx)
	} else {
		changes, planErr := tun.Plan(ctx)
		for _, ch := range changes {
			if ch.Op == OpKeep && strings.HasPrefix(ch.Command, "# peer ") {
				continue // the peers' recorded states, not the planner's
			}
			fmt.Fprintln(&b, ch)
		}
		err = tun.Up(ctx)
		if err == nil && planErr != nil {
			return "", "", fmt.Errorf("Plan failed, Up did not: %w", planErr)
		}
	}
	if err == nil && !sc.down {
		if err := tun.Check(ctx); err != nil {
			return "", "", fmt.Errorf("after Up: %w", err)
		}
	}
	st, serr := snapshot(tun.k, sc.configs, sc.fw)
	if serr != nil {
		return "", "", serr
	}
	return rename(b.String(), names), rename(st, names), err
}

// setHealth records the peers of failed as out of the tunnel, as Watch
// does when it judges them unhealthy, and the others as through it: the
// health input of the next Up or Down.
func setHealth(tun *Tunnel, failed map[wgtypes.Key]bool) error {
	rec, err := tun.readRecord()
	if err != nil || rec == nil && len(failed) == 0 {
		return err
	}
	if rec == nil { // as Up claims the layout before its first write
		if err := state.EnsureDir(tun.stateDir); err != nil {
			return err
		}
		rec = (*record)(nil).withConfig(tun.cfg, nil)
	}
	rec.Peers = nil
	for _, p := range tun.cfg.Peers {
		if failed[p.PublicKey] {
			rec.Peers = append(rec.Peers, peerRecord{PublicKey: p.PublicKey, State: unhealthyState(p.Fallback)})
		}
	}
	return tun.writeRecord(rec)
}

// downPlan is what Down of tun would do, read as Down reads it.
func downPlan(ctx context.Context, tun *Tunnel) ([]step, error) {
	end, err := tun.begin(ctx, "plan")
	if err != nil {
		return nil, err
	}
	defer end()
	rec, err := tun.readRecord()
	if err != nil {
		return nil, err
	}
	o, err := tun.observeFor(tun.cfg, rec, false)
	if err != nil {
		return nil, err
	}
	return planDown(tun.cfg, o), nil
}

// addForeignRoute adds a route that is not the tunnel's (its protocol is
// another), which the kernel interface cannot write.
func addForeignRoute(k kernel, r netlink.Route) {
	if fk, ok := k.(*fakeKernel); ok {
		fk.routeList = append(fk.routeList, r)
		return
	}
	k.InNamespace(func() error { return netlink.RouteAdd(&r) })
}

func rename(s string, names map[string]string) string {
	for from, to := range names {
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

// snapshot is the state of everything a tunnel can own, read through the
// kernel interface: the configs' links with their addresses and devices,
// the rules and routes other than the kernel's own, and the SNAT chains.
func snapshot(k kernel, configs []Config, fwWant Firewall) (string, error) {
	var lines []string
	seen := map[string]bool{}
	for _, c := range configs {
		if seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		l, err := k.Link(c.Name)
		if err != nil {
			return "", err
		}
		if l == nil {
			continue
		}
		lines = append(lines, fmt.Sprintf("link %s %s mtu %d up=%v ours=%v", l.Name, l.Kind, l.MTU, l.Up, l.Ours))
		addrs, err := k.Addresses(l.Index)
		if err != nil {
			return "", err
		}
		for _, a := range addrs {
			if !isLinkLocal(a) {
				lines = append(lines, fmt.Sprintf("address %s dev %s", a, l.Name))
			}
		}
		d, err := k.Device(c.Name)
		if err != nil {
			return "", err
		}
		if d != nil {
			lines = append(lines, fmt.Sprintf("device %s public-key %s listen-port %d fwmark %#x", c.Name, d.PublicKey, d.ListenPort, d.FirewallMark))
			for _, p := range d.Peers {
				var ips []string
				for _, n := range p.AllowedIPs {
					ips = append(ips, n.String())
				}
				slices.Sort(ips)
				lines = append(lines, fmt.Sprintf("peer %s endpoint %v allowed-ips %s keepalive %s", p.PublicKey, p.Endpoint, strings.Join(ips, ","), p.PersistentKeepaliveInterval))
			}
		}
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			fw, err := k.Firewall(fwWant.want())
			if err != nil {
				return "", err
			}
			st, err := fw.ReadChain(fam, c.Name)
			if err != nil {
				return "", err
			}
			if st.Exists || len(st.Hooks) > 0 {
				lines = append(lines, fmt.Sprintf("%s: %v hooks %v", fw.Where(fam, c.Name), st.Rules, st.Hooks))
			}
		}
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := k.Rules(fam)
		if err != nil {
			return "", err
		}
		for _, r := range rules {
			if r.Priority == 0 || r.Priority >= 32766 {
				continue // the kernel's own
			}
			spec, ok := ruleFromNetlink(r)
			text := spec.String()
			if !ok {
				text = fmt.Sprintf("rule %d (foreign shape) to %v lookup %d", r.Priority, r.Dst, r.Table)
			}
			lines = append(lines, fmt.Sprintf("%s proto %d", text, r.Protocol))
		}
		routes, err := k.Routes(fam, unix.RT_TABLE_UNSPEC)
		if err != nil {
			return "", err
		}
		for _, r := range routes {
			if r.Table == inet.TableLocal || r.Protocol != RouteProtocol && r.Table == inet.TableMain || r.Protocol == unix.RTPROT_KERNEL {
				continue
			}
			if r.Type == unix.RTN_UNREACHABLE { // through no link (the kernel shows lo for IPv6)
				lines = append(lines, fmt.Sprintf("route unreachable %v table %s metric %d proto %d", r.Dst, inet.TableName(r.Table), r.Priority, r.Protocol))
				continue
			}
			dev := ""
			if l, _ := k.LinkByIndex(r.LinkIndex); l != nil {
				dev = l.Name
			}
			lines = append(lines, fmt.Sprintf("route %v table %s dev %s proto %d", r.Dst, inet.TableName(r.Table), dev, r.Protocol))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n", nil
}

// newScenarioFake is the fake kernel a scenario starts from: the
// article's A with its underlay, and this machine's answer to "has the
// kernel WireGuard".
func newScenarioFake(wireguard bool) *fakeKernel {
	k := newFakeKernel()
	k.wireguard = wireguard
	k.addUnderlay("eth0", underlayAddrs, underlayGWs)
	return k
}

// TestStates runs every scenario against the fake kernel, without root,
// and compares the plan and the final state with its golden file in
// testdata/states (go test -run TestStates -update rewrites them). Each
// Up is also checked to leave nothing for a second Up to do.
func TestStates(t *testing.T) {
	for _, sc := range stateScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			plan, state, err := scenarioRun(fakeTunnels(t, newScenarioFake(false)), sc, nil)
			checkScenarioErr(t, sc, err)
			golden := filepath.Join("testdata", "states", fileName(sc.name)+".txt")
			got := "# plan\n" + plan + "# state\n" + state
			if err != nil {
				got = "# error\n" + err.Error() + "\n" + got
			}
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := goldens.ReadFile(golden) // embedded: the VM runs the binary without the tree
			if err != nil {
				t.Fatalf("%v (run go test -run TestStates -update to write it)", err)
			}
			if diff := testns.Diff(string(want), got); diff != "" {
				t.Errorf("plan and state differ from %s:\n%s", golden, diff)
			}
		})
	}
}

// fileName turns a scenario's name into a file name.
func fileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(strings.ReplaceAll(name, ": ", "_")))
}

func checkScenarioErr(t *testing.T, sc stateScenario, err error) {
	t.Helper()
	switch {
	case sc.wantErr == nil && err != nil:
		t.Fatal(err)
	case sc.wantErr != nil && !errors.Is(err, sc.wantErr):
		t.Fatalf("err = %v, want %v", err, sc.wantErr)
	}
}

// TestStatesParity runs every scenario twice, in the fake kernel and in
// a real network namespace with the article's A (the embedded device or
// kernel WireGuard, nf_tables and iptables), and requires the same plans
// and the same final states: the fake cannot drift from the kernel.
func TestStatesParity(t *testing.T) {
	testns.RequireRoot(t)
	for i, sc := range stateScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			ns := testns.New(t, "states")
			if err := setupUnderlay(ns); err != nil {
				t.Fatal(err)
			}
			wg, err := hasKernelWireGuard(ns.Path)
			if err != nil {
				t.Fatal(err)
			}
			// Embedded devices share /var/run/wireguard: unique names.
			unique, names := map[string]string{}, map[string]string{}
			for j := range sc.configs {
				c := &sc.configs[j]
				u, ok := unique[c.Name]
				if !ok {
					u = fmt.Sprintf("wgs%d%c%d", os.Getpid()%100000, 'a'+len(unique), i)
					unique[c.Name], names[u] = u, c.Name
				}
				c.Name = u
			}
			fakePlan, fakeState, fakeErr := scenarioRun(fakeTunnels(t, newScenarioFake(wg)), sc, names)
			livePlan, liveState, liveErr := scenarioRun(liveTunnels(ns.Path), sc, names)
			checkScenarioErr(t, sc, liveErr)
			if fmt.Sprint(fakeErr) != fmt.Sprint(liveErr) {
				t.Errorf("errors differ:\nfake:   %v\nkernel: %v", fakeErr, liveErr)
			}
			if diff := testns.Diff(fakePlan, livePlan); diff != "" {
				t.Errorf("plans differ (- fake, + kernel):\n%s", diff)
			}
			if diff := testns.Diff(fakeState, liveState); diff != "" {
				t.Errorf("states differ (- fake, + kernel):\n%s", diff)
			}
		})
	}
}

// fakeTunnels makes a scenario's Tunnels on the fake kernel k, sharing a
// state directory as the Tunnels of one namespace do.
func fakeTunnels(t *testing.T, k *fakeKernel) openTunnel {
	dir := filepath.Join(t.TempDir(), "state", "netns-fake")
	return func(fw Firewall) (*Tunnel, error) {
		return scenarioTunnel(k, dir, fw), nil
	}
}

// liveTunnels makes a scenario's Tunnels in the namespace at path, each
// on a kernel of its own as New makes it.
func liveTunnels(path string) openTunnel {
	return func(fw Firewall) (*Tunnel, error) {
		ns, err := namespace.Open(path)
		if err != nil {
			return nil, err
		}
		dir, err := state.DirOf(ns)
		if err != nil {
			ns.Handle.Close()
			return nil, err
		}
		k, err := linuxnet.New(ns, slog.New(slog.DiscardHandler))
		if err != nil {
			ns.Handle.Close()
			return nil, err
		}
		return scenarioTunnel(k, dir, fw), nil
	}
}

// scenarioTunnel is a Tunnel on k with the firewall fw and no config yet.
func scenarioTunnel(k kernel, stateDir string, fw Firewall) *Tunnel {
	o := options{logger: slog.New(slog.DiscardHandler), firewall: fw}
	names, _ := newNameState(o) // valid: no name options
	return newTunnel(Config{}, o, names, k, stateDir)
}

// hasKernelWireGuard asks the kernel of the namespace at path.
func hasKernelWireGuard(path string) (bool, error) {
	ns, err := namespace.Open(path)
	if err != nil {
		return false, err
	}
	k, err := linuxnet.New(ns, slog.New(slog.DiscardHandler))
	if err != nil {
		ns.Handle.Close()
		return false, err
	}
	defer k.Close()
	return k.HasKernelWireGuard()
}

// setupUnderlay gives a test namespace the fake's underlay: a link eth0
// (one end of a veth pair whose other end stays in the namespace) with
// A's public addresses and default routes.
func setupUnderlay(ns *testns.NS) error {
	h := ns.Netlink()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "eth0"
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0p"}); err != nil {
		return err
	}
	peer, err := h.LinkByName("eth0p")
	if err == nil {
		err = h.LinkSetUp(peer)
	}
	if err != nil {
		return err
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	for _, a := range underlayAddrs {
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: inet.IPNet(a), Flags: unix.IFA_F_NODAD}); err != nil {
			return err
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return err
	}
	for _, gw := range underlayGWs {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice(), Protocol: unix.RTPROT_STATIC}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}
