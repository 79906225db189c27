package transparent_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// coexistConfig is the i-th of several tunnels that share namespace A:
// its own name, port, addresses, table and priorities, and a peer that
// need not answer. Variants differ in peer route, exception and SNAT, and
// tunnel 5 is dual stack.
func (w *article) coexistConfig(t *testing.T, i int) transparent.Config {
	t.Helper()
	c := transparent.Config{
		Name:       fmt.Sprintf("%s%d", w.nameA, i),
		PrivateKey: genKey(t),
		ListenPort: 52000 + i,
		Addresses:  []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.1.%d.1/32", i))},
		Table:      200 + i,
		Priority:   1000 + 10*i,
		PeerRoute:  []transparent.PeerRoute{transparent.PeerRouteRule, transparent.PeerRouteMain, transparent.PeerRouteRule}[i%3],
		Exception:  []transparent.ExceptionMode{transparent.ExceptionPort, transparent.ExceptionFwMark}[i%2],
		Peers: []transparent.Peer{{
			PublicKey:   genKey(t).PublicKey(),
			Endpoint:    netip.MustParseAddrPort(fmt.Sprintf("203.0.113.%d:%d", 10+i, 53000+i)),
			AllowedIPs:  []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.1.%d.2/32", i))},
			Transparent: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("203.0.113.%d/32", 10+i)), netip.MustParsePrefix(fmt.Sprintf("192.0.2.%d/32", 100+i))},
		}},
	}
	if i == 5 {
		c.Addresses = append(c.Addresses, netip.MustParsePrefix("2001:db8:1:5::1/128"))
		c.Peers[0].AllowedIPs = append(c.Peers[0].AllowedIPs, netip.MustParsePrefix("2001:db8:1:5::2/128"))
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, netip.MustParsePrefix("2001:db8:cafe::5/128"))
	}
	if i%4 == 1 {
		c = withSNAT(c, transparent.SNATOutbound)
	}
	return c
}

// withSNAT is c with SNAT mode m, and public addresses when it is on.
func withSNAT(c transparent.Config, m transparent.SNATMode) transparent.Config {
	c.SNAT, c.PublicAddresses = m, nil
	if m != transparent.SNATOff {
		c.PublicAddresses = []netip.Addr{publicA}
		if len(c.Addresses) > 1 {
			c.PublicAddresses = append(c.PublicAddresses, netip.MustParseAddr("2001:db8:a::1"))
		}
	}
	return c
}

// reconfigured is c with a new layout: other priorities and table, and
// SNAT switched.
func reconfigured(c transparent.Config, i int) transparent.Config {
	c.Priority, c.Table = 2000+10*i, 300+i
	if c.SNAT == transparent.SNATOff {
		return withSNAT(c, transparent.SNATOutbound)
	}
	return withSNAT(c, transparent.SNATOff)
}

// settledLines is the namespace's full dump (links, addresses, routes,
// rules, nat tables, nf_tables) once settled, as sorted lines.
func settledLines(t *testing.T, ns *testns.NS) []string {
	t.Helper()
	if _, err := testns.DumpSettled(ns); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(fullDump(t, ns), "\n"), "\n")
	for i, l := range lines {
		lines[i] = linkLocal.ReplaceAllString(l, "fe80::(link-local)")
	}
	slices.Sort(lines)
	return lines
}

// linkLocal matches a link's IPv6 link-local address, which the kernel
// makes anew, at random, with every link.
var linkLocal = regexp.MustCompile(`fe80::[0-9a-f:]*[0-9a-f]`)

// without returns the lines of after that are not in before, as a
// multiset.
func without(after, before []string) []string {
	count := map[string]int{}
	for _, l := range before {
		count[l]++
	}
	var out []string
	for _, l := range after {
		if count[l] > 0 {
			count[l]--
		} else {
			out = append(out, l)
		}
	}
	return out
}

// signature is what one config adds to the namespace when it is up alone.
func signature(t *testing.T, w *article, base []string, c transparent.Config) []string {
	t.Helper()
	tun := newTunnel(t, c, w.A)
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		t.Fatalf("Up %s alone: %v", c.Name, err)
	}
	sig := without(settledLines(t, w.A), base)
	if err := tun.Down(ctx); err != nil {
		t.Fatalf("Down %s alone: %v", c.Name, err)
	}
	tun.Close()
	expectLines(t, w.A, base, "after "+c.Name+" alone was up and down")
	if len(sig) == 0 {
		t.Fatalf("%s made nothing", c.Name)
	}
	return sig
}

// expectLines compares the namespace with want, waiting a moment for the
// kernel to settle.
func expectLines(t *testing.T, ns *testns.NS, want []string, what string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	var got []string
	for deadline := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = settledLines(t, ns)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if missing, extra := without(want, got), without(got, want); len(missing)+len(extra) > 0 {
		t.Fatalf("%s: namespace differs from what the tunnels up want:\nmissing:\n  %s\nextra:\n  %s",
			what, strings.Join(missing, "\n  "), strings.Join(extra, "\n  "))
	}
}

// TestManyTunnelsCoexist: six tunnels in one namespace (distinct names,
// tables and priorities; every peer route option, both exception modes,
// SNAT, dual stack) come up in random order, are re-configured (new
// priorities, table, SNAT switched) by fresh Tunnels, and go down by fresh
// Tunnels in random order. After every step the namespace is exactly the
// union of what each tunnel still up makes alone, and every tunnel still
// up checks clean: no operation of one tunnel touched another's objects.
func TestManyTunnelsCoexist(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	ctx := context.Background()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	const n = 6
	base := settledLines(t, w.A)
	cfgs := make([]transparent.Config, n)
	sigs := make([][]string, n)
	for i := range cfgs {
		cfgs[i] = w.coexistConfig(t, i)
		sigs[i] = signature(t, w, base, cfgs[i])
	}
	// Tunnel i after its re-configuration.
	moved := make([]transparent.Config, n)
	movedSigs := make([][]string, n)
	for i := range moved {
		moved[i] = reconfigured(cfgs[i], i)
	}
	for i := range moved {
		movedSigs[i] = signature(t, w, base, moved[i])
	}

	up := map[int]transparent.Config{}
	current := func(i int) []string {
		if c, ok := up[i]; ok && c.Priority == moved[i].Priority {
			return movedSigs[i]
		}
		return sigs[i]
	}
	verify := func(what string) {
		t.Helper()
		want := slices.Clone(base)
		for i := range up {
			want = append(want, current(i)...)
		}
		expectLines(t, w.A, want, what)
		for i, c := range up {
			tun := newTunnel(t, c, w.A)
			if err := tun.Check(ctx); err != nil {
				t.Fatalf("%s: Check of tunnel %d: %v", what, i, err)
			}
			tun.Close()
		}
	}
	// Embedded devices live in the Tunnel that made them: keep those
	// Tunnels until their tunnel is down.
	makers := map[int]*transparent.Tunnel{}
	for _, i := range rng.Perm(n) {
		tun := newTunnel(t, cfgs[i], w.A)
		if err := tun.Up(ctx); err != nil {
			t.Fatalf("Up tunnel %d: %v", i, err)
		}
		makers[i], up[i] = tun, cfgs[i]
		verify(fmt.Sprintf("after Up of tunnel %d", i))
	}
	for _, i := range rng.Perm(n)[:3] {
		tun := newTunnel(t, moved[i], w.A)
		if err := tun.Up(ctx); err != nil {
			t.Fatalf("Up tunnel %d re-configured: %v", i, err)
		}
		up[i] = moved[i]
		verify(fmt.Sprintf("after tunnel %d moved to priority %d, table %d", i, moved[i].Priority, moved[i].Table))
		tun.Close()
	}
	for _, i := range rng.Perm(n) {
		tun := newTunnel(t, cfgs[i], w.A) // the original config: Down follows the record
		if err := tun.Down(ctx); err != nil {
			t.Fatalf("Down tunnel %d: %v", i, err)
		}
		tun.Close()
		makers[i].Close()
		delete(up, i)
		verify(fmt.Sprintf("after Down of tunnel %d", i))
	}
}

// TestOverlapRefused: a config whose table or priorities another tunnel
// of the namespace claims is refused by Up, Plan and Check with
// ErrConflict naming the other tunnel, the object and the fix, and
// nothing changes: while the other tunnel's Tunnel is alive, and after it
// is gone (closed without Down, as a process that died). Down of such a
// config, from a fresh Tunnel that was never up, leaves the other
// tunnel's objects alone.
func TestOverlapRefused(t *testing.T) {
	w := newArticle(t)
	ctx := context.Background()
	owner := w.coexistConfig(t, 1) // table 201, priorities 1010-1012, SNAT
	for _, gone := range []bool{false, true} {
		t.Run(fmt.Sprintf("owner gone=%v", gone), func(t *testing.T) {
			first := newTunnel(t, owner, w.A)
			if err := first.Up(ctx); err != nil {
				t.Fatal(err)
			}
			if gone {
				first.Close()
			}
			before := settledFullDump(t, w.A)
			for _, tc := range []struct {
				name   string
				change func(*transparent.Config)
				want   string
			}{
				{"same table and priority", func(c *transparent.Config) { c.Table, c.Priority = owner.Table, owner.Priority },
					"table 201 belongs to tunnel " + owner.Name + "; choose another Table"},
				{"same table", func(c *transparent.Config) { c.Table = owner.Table },
					"table 201 belongs to tunnel " + owner.Name},
				{"overlapping priorities below", func(c *transparent.Config) { c.Priority = owner.Priority - 2 },
					fmt.Sprintf("rule priorities 1008-1010 overlap tunnel %s's 1010-1012; choose a Priority up to 1007 or from 1013", owner.Name)},
				{"overlapping priorities above", func(c *transparent.Config) { c.Priority = owner.Priority + 2 },
					"overlap tunnel " + owner.Name},
				{"with SNAT", func(c *transparent.Config) { *c = withSNAT(*c, transparent.SNATOutbound); c.Table = owner.Table },
					"table 201 belongs to tunnel " + owner.Name},
			} {
				c := w.coexistConfig(t, 2)
				tc.change(&c)
				tun := newTunnel(t, c, w.A)
				for op, f := range map[string]func() error{
					"Up":    func() error { return tun.Up(ctx) },
					"Plan":  func() error { _, err := tun.Plan(ctx); return err },
					"Check": func() error { return tun.Check(ctx) },
				} {
					err := f()
					if !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("%s: %s = %v, want ErrConflict saying %q", tc.name, op, err, tc.want)
					}
				}
				if err := tun.Down(ctx); err != nil {
					t.Errorf("%s: Down of the refused config: %v", tc.name, err)
				}
				expectSameFull(t, w.A, before, tc.name)
			}
			second := newTunnel(t, owner, w.A)
			if err := second.Check(ctx); err != nil && !gone { // a gone owner's embedded device went with it
				t.Errorf("the owner drifted: %v", err)
			}
			if err := second.Down(ctx); err != nil {
				t.Fatal(err)
			}
			first.Close()
		})
	}
}

// settledFullDump is fullDump once no address is tentative.
func settledFullDump(t *testing.T, ns *testns.NS) string {
	t.Helper()
	if _, err := testns.DumpSettled(ns); err != nil {
		t.Fatal(err)
	}
	return fullDump(t, ns)
}

// expectSameFull compares fullDump with before, giving the kernel a
// moment to settle.
func expectSameFull(t *testing.T, ns *testns.NS, before, what string) {
	t.Helper()
	if diff := settledDiff(before, func() string { return fullDump(t, ns) }); diff != "" {
		t.Errorf("%s: namespace changed:\n%s", what, diff)
	}
}

// TestLongLivedTunnelFollowsRecord: a Tunnel that stays (a foreground
// command, a Watch loop) after its Up, while another process re-configures
// the same tunnel (other priorities, SNAT on). The long-lived Tunnel's
// Down removes what the last Up made, not what it made itself: the
// namespace is as before, the record gone.
func TestLongLivedTunnelFollowsRecord(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	ctx := context.Background()
	before := settledFullDump(t, w.A)
	c := w.coexistConfig(t, 0)
	long := newTunnel(t, c, w.A)
	if err := long.Up(ctx); err != nil {
		t.Fatal(err)
	}
	other := c
	other = withSNAT(other, transparent.SNATOutbound)
	other.Priority = 800
	second := newTunnel(t, other, w.A)
	if err := second.Up(ctx); err != nil {
		t.Fatal(err)
	}
	second.Close()
	if err := long.Check(ctx); !errors.Is(err, transparent.ErrDrift) {
		t.Errorf("Check of the long-lived Tunnel's config after another's Up = %v, want drift", err)
	}
	if err := long.Down(ctx); err != nil {
		t.Fatal(err)
	}
	expectSameFull(t, w.A, before, "after the long-lived Tunnel's Down")
}

// TestRacingConfigs: two Tunnels of one name with different configs (as
// two processes would be: each its own lock file descriptor) race Up and
// Down for 24 rounds. Each round ends in exactly one config's state, or
// none, never a mix; a fresh Down then restores the namespace.
func TestRacingConfigs(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	ctx := context.Background()
	base := settledLines(t, w.A)
	c1 := w.coexistConfig(t, 0)
	c2 := reconfigured(c1, 0) // other priorities and table, SNAT on
	sig1, sig2 := signature(t, w, base, c1), signature(t, w, base, c2)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const rounds = 24
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		ops := make([]string, 2)
		for k, c := range []transparent.Config{c1, c2} {
			tun := newTunnel(t, c, w.A)
			ops[k] = []string{"up", "up", "down"}[rng.IntN(3)]
			// Pauses between the operations let the other Tunnel's
			// take the lock in between.
			pauses := []time.Duration{time.Duration(rng.IntN(30)) * time.Millisecond, time.Duration(rng.IntN(30)) * time.Millisecond, 0}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, pause := range pauses {
					if ops[k] == "up" {
						errs[k] = errors.Join(errs[k], tun.Up(ctx))
					} else {
						errs[k] = errors.Join(errs[k], tun.Down(ctx))
					}
					time.Sleep(pause)
				}
			}()
		}
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %s of config %d: %v", round, ops[k], k+1, err)
			}
		}
		got := settledLines(t, w.A)
		switch {
		case slices.Equal(got, slices.Sorted(slices.Values(base))):
		case slices.Equal(got, slices.Sorted(slices.Values(append(slices.Clone(base), sig1...)))):
		case slices.Equal(got, slices.Sorted(slices.Values(append(slices.Clone(base), sig2...)))):
		default:
			t.Fatalf("round %d (%v): the namespace is neither empty nor one config's state:\n%s", round, ops,
				strings.Join(without(got, base), "\n"))
		}
		// The Tunnels of this round close here, as processes end; an
		// embedded device goes with its maker, so bring the tunnel down
		// before the next round.
		fresh := newTunnel(t, c1, w.A)
		if err := fresh.Down(ctx); err != nil {
			t.Fatalf("round %d: fresh Down: %v", round, err)
		}
		expectLines(t, w.A, base, fmt.Sprintf("round %d: after a fresh Down", round))
	}
}

// TestWatchLoopsSettle: three tunnels, each with a Watch loop, in one
// namespace: once settled, none of them writes anything, and a rule
// removed from one is restored without the others writing.
func TestWatchLoopsSettle(t *testing.T) {
	w := newArticle(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var cfgs []transparent.Config
	for i := range 3 {
		c := w.coexistConfig(t, i)
		c = withSNAT(c, transparent.SNATOff) // Watch sees netlink changes only
		cfgs = append(cfgs, c)
		tun := newTunnel(t, c, w.A)
		wg.Add(1)
		go func() { defer wg.Done(); tun.Watch(ctx) }()
	}
	for _, c := range cfgs {
		waitClean(t, w.A, c)
	}
	watch := testns.Watch(t, w.A)
	if ev := watch.Settle(500 * time.Millisecond); len(ev) != 0 {
		t.Fatalf("three settled Watch loops still change the namespace:\n%s", strings.Join(ev, "\n"))
	}
	r := w.A.Netlink()
	rules, err := r.RuleList(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range rules {
		if rule.Priority == cfgs[1].Priority+1 {
			if err := r.RuleDel(&rule); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	waitClean(t, w.A, cfgs[1])
	watch.Reset()
	if ev := watch.Settle(500 * time.Millisecond); len(ev) != 0 {
		t.Fatalf("after the repair, the Watch loops still change the namespace:\n%s", strings.Join(ev, "\n"))
	}
	for _, c := range cfgs {
		waitClean(t, w.A, c)
	}
	cancel()
	wg.Wait()
	for _, c := range cfgs {
		if err := newTunnel(t, c, w.A).Down(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// waitClean waits until c's Check is clean, for at most 10 seconds.
func waitClean(t *testing.T, ns *testns.NS, c transparent.Config) {
	t.Helper()
	tun := newTunnel(t, c, ns)
	defer tun.Close()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = tun.Check(context.Background()); err == nil {
			return
		}
	}
	t.Fatalf("%s never checked clean: %v", c.Name, err)
}

// TestClaimSurvivesCrash: a process is killed in the middle of an Up. Its
// record already claims the layout it was making, so another tunnel that
// wants the same table is refused, naming it; a fresh Down of the killed
// tunnel restores the namespace and frees the table.
func TestClaimSurvivesCrash(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	ctx := context.Background()
	before := fullDump(t, w.A)
	crashed := w.coexistConfig(t, 1) // with SNAT: about 15 writes
	const delay = 20 * time.Millisecond
	child, _ := startChild(t, map[string]any{"Config": crashed, "NetNS": w.A.Path, "Backend": testBackend(), "StepDelay": delay})
	time.Sleep(5 * delay) // a few writes made
	child.Process.Kill()
	child.Wait()

	other := w.coexistConfig(t, 2)
	other.Table = crashed.Table
	tun := newTunnel(t, other, w.A)
	want := fmt.Sprintf("table %d belongs to tunnel %s", crashed.Table, crashed.Name)
	if err := tun.Up(ctx); !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Up of another tunnel with the killed one's table = %v, want ErrConflict saying %q", err, want)
	}
	if err := newTunnel(t, crashed, w.A).Down(ctx); err != nil {
		t.Fatalf("Down of the killed tunnel: %v", err)
	}
	if diff := settledDiff(before, func() string { return fullDump(t, w.A) }); diff != "" {
		t.Fatalf("namespace after Down of the killed tunnel:\n%s", diff)
	}
	if err := tun.Up(ctx); err != nil {
		t.Fatalf("Up once the table is free: %v", err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
}
