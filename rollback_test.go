package transparent_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestUpRollsBackAtEveryWrite fails the k-th kernel write of an Up, for
// every k, and checks each time that Up undid the writes before it: the
// namespace (links, addresses, routes, rules, nat tables) and the
// WireGuard device are as before. It does so for an Up from nothing and
// for an Up that changes a running tunnel's config.
func TestUpRollsBackAtEveryWrite(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	ctx := context.Background()
	dual := ends{fams: []family{ipv4, ipv6}, snatA: transparent.SNATOutbound}
	first, _ := dual.configs(w)
	first.PeerRoute = transparent.PeerRouteMain

	// The second config changes nearly everything but the name.
	second, _ := ends{fams: []family{ipv4}, exception: transparent.ExceptionFwMark, snatA: transparent.SNATOutbound}.configs(w)
	second.Priority, second.Table, second.ListenPort, second.MTU = 1000, 77, 51823, 1380
	second.Peers[0].Transparent = append(second.Peers[0].Transparent, netip.MustParsePrefix("203.0.113.128/25"))

	tun := newTunnel(t, first, w.A)
	for _, step := range []struct {
		name string
		from *transparent.Config // the config already up, or nil
		to   transparent.Config
	}{
		{"from nothing", nil, first},
		{"config change", &first, second},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.from != nil {
				if err := tun.SetConfig(*step.from); err != nil {
					t.Fatal(err)
				}
				if err := tun.Up(ctx); err != nil {
					t.Fatalf("Up with the first config: %v", err)
				}
			}
			if err := tun.SetConfig(step.to); err != nil {
				t.Fatal(err)
			}
			failEveryWrite(t, tun, w.A)
		})
	}
	// The changed tunnel must be what a fresh Up of the second config
	// makes: nothing stale of the first config is left.
	// A new link gets a new random IPv6 link-local address: not compared.
	state := func(tun *transparent.Tunnel) string {
		var lines []string
		for _, l := range strings.SplitAfter(fullDump(t, w.A)+deviceSummary(t, tun), "\n") {
			if !strings.Contains(l, " fe80::") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "")
	}
	changed := state(tun)
	if err := tun.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	fresh := newTunnel(t, second, w.A)
	if err := fresh.Up(ctx); err != nil {
		t.Fatalf("fresh Up of the second config: %v", err)
	}
	if diff := settledDiff(changed, func() string { return state(fresh) }); diff != "" {
		t.Errorf("Up after a config change differs from a fresh Up of the new config:\n%s", diff)
	}
	if err := fresh.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
}

// settledDiff compares before with state() until they are equal or a
// second has passed: the kernel adds some objects a moment after the
// write that causes them (an IPv6 address's local route, from a work
// queue), so a rolled-back state can need a moment to settle.
func settledDiff(before string, state func() string) string {
	deadline := time.Now().Add(time.Second)
	for {
		diff := testns.Diff(before, state())
		if diff == "" || time.Now().After(deadline) {
			return diff
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deviceSummary renders the WireGuard settings that Up manages.
func deviceSummary(t *testing.T, tun *transparent.Tunnel) string {
	t.Helper()
	d, err := tun.Device()
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		return "device: none\n"
	}
	s := fmt.Sprintf("device: port %d fwmark %#x\n", d.ListenPort, d.FirewallMark)
	for _, p := range d.Peers {
		var ips []string
		for _, n := range p.AllowedIPs {
			ips = append(ips, n.String())
		}
		slices.Sort(ips)
		s += fmt.Sprintf("peer %s endpoint %v allowed %s\n", p.PublicKey, p.Endpoint, strings.Join(ips, ","))
	}
	return s
}

// failEveryWrite runs tun's Up once for each of its kernel writes, the
// k-th write failing in the k-th run, and checks that each failed Up
// leaves ns and the device exactly as they were; a last run with no
// failure must succeed.
func failEveryWrite(t *testing.T, tun *transparent.Tunnel, ns *testns.NS) {
	t.Helper()
	ctx := context.Background()
	state := func() string { return fullDump(t, ns) + deviceSummary(t, tun) }
	before := state()
	defer transparent.FailWrite(tun, 0)
	for k := 1; ; k++ {
		transparent.FailWrite(tun, k)
		err := tun.Up(ctx)
		writes := transparent.Writes(tun)
		if k > writes { // every write has failed once: this Up made them all
			transparent.FailWrite(tun, 0)
			if err != nil {
				t.Fatalf("Up without an injected failure: %v", err)
			}
			t.Logf("failed each of %d writes in turn", writes)
			return
		}
		if !errors.Is(err, transparent.ErrInjected) {
			t.Fatalf("write %d: Up = %v, want the injected failure", k, err)
		}
		if diff := settledDiff(before, state); diff != "" {
			t.Fatalf("write %d failed; Up did not roll back:\n%s\nerror: %v", k, diff, err)
		}
	}
}
