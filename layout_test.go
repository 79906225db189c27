package transparent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/rulelayout"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestChooseLayout: TableAuto and PriorityAuto take the first table and
// priority band of their ranges that neither the kernel nor another
// tunnel's record uses, and a fixed value stays as it is.
func TestChooseLayout(t *testing.T) {
	auto := articleA(PeerRouteRule)
	auto.Table, auto.Priority = TableAuto, PriorityAuto
	claims := []claim{{name: "wgother", record: &record{Layouts: []layout{{Priority: 458, Table: 124}}}}}
	u := inUse{
		tables:     map[int]bool{123: true, 254: true},
		priorities: map[int]bool{0: true, 462: true, 32766: true},
	}
	c, err := chooseLayout(auto, u, claims)
	if err != nil {
		t.Fatal(err)
	}
	// 123 is in use, 124 claimed; 455-457 free of rules but 458-460 claimed
	// and 461-463 holds a rule at 462.
	if c.Table != 125 || c.Priority != 455 {
		t.Errorf("chose table %d, priority %d; want 125, 455", c.Table, c.Priority)
	}
	u.priorities[456] = true
	if c, _ := chooseLayout(auto, u, claims); c.Priority != 464 {
		t.Errorf("with a rule at 456 chose priority %d, want 464", c.Priority)
	}
	fixed := auto
	fixed.Table, fixed.Priority = 300, 1000
	if c, err := chooseLayout(fixed, u, claims); err != nil || c.Table != 300 || c.Priority != 1000 {
		t.Errorf("fixed values became table %d, priority %d (%v)", c.Table, c.Priority, err)
	}
	full := inUse{tables: map[int]bool{}, priorities: map[int]bool{}}
	for tb := AutoTableFirst; tb <= AutoTableLast; tb++ {
		full.tables[tb] = true
	}
	if _, err := chooseLayout(auto, full, nil); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "Table = auto") {
		t.Errorf("every table in use: %v, want ErrConflict naming Table = auto", err)
	}
	// The record keeps what an Up chose.
	rec := &record{Layouts: []layout{{Priority: 470, Table: 130}, {Priority: 455, Table: 123}}}
	if c, ok := recordedLayout(auto, rec); !ok || c.Table != 130 || c.Priority != 470 {
		t.Errorf("recordedLayout = table %d, priority %d, %v; want the newest layout, 130 and 470", c.Table, c.Priority, ok)
	}
	if _, ok := recordedLayout(auto, nil); ok {
		t.Error("recordedLayout without a record resolved the auto values")
	}
}

// TestTableOffPlan: with TableOff the plan makes the device, its
// addresses and peers, and no route and no rule.
func TestTableOffPlan(t *testing.T) {
	c := articleA(PeerRouteRule)
	c.Table = TableOff
	c.Peers[0].Transparent = nil
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	k := newFakeKernel()
	o, err := observe(k, slog.New(slog.DiscardHandler), observation{cfg: c, forUp: true})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := planUp(c, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		switch s.(type) {
		case *addRouteStep, *addRuleStep:
			t.Errorf("Table off plans %s", s)
		}
	}
}

// TestTableOffRefusesTransparent: a plain tunnel (TableOff) has no rules,
// so Transparent, TransparentNames and SNAT are refused, naming the field
// and the fix.
func TestTableOffRefusesTransparent(t *testing.T) {
	c := articleA(PeerRouteRule)
	c.Table = TableOff
	c.Peers[0].TransparentNames = []string{"app.example.com"}
	c.SNAT, c.PublicAddresses = SNATOutbound, nil
	err := c.Validate()
	for _, want := range []string{"Peers[0].Transparent: set, but Table is off", "Peers[0].TransparentNames: set, but Table is off", "SNAT: set, but Table is off", "give the tunnel a table"} {
		if !strings.Contains(fmtErr(err), want) {
			t.Errorf("Validate = %v, want it to say %q", err, want)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAutoLayoutRace: two tunnels with TableAuto and PriorityAuto, brought
// up at the same time in one namespace where another program holds a rule
// at the first priority band, get different tables and priority bands
// that avoid it; each records its choice, and a fresh Tunnel of the same
// config (another process) plans, checks and brings the tunnel down with
// the recorded values, leaving the namespace as it was.
func TestAutoLayoutRace(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "wgqpauto")
	foreign := netlink.NewRule()
	foreign.Priority, foreign.Table, foreign.Family = AutoPriorityFirst+1, 77, unix.AF_INET
	if err := ns.Netlink().RuleAdd(foreign); err != nil {
		t.Fatal(err)
	}
	before, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfgs := make([]Config, 2)
	tuns := make([]*Tunnel, 2)
	for i := range cfgs {
		c := articleA(PeerRouteRule)
		c.Name, c.ListenPort = []string{"wgqp1", "wgqp2"}[i], 51831+i
		c.Table, c.Priority = TableAuto, PriorityAuto
		c.PrivateKey = testKey(byte(10 + i))
		c.Peers[0].PublicKey = testKey(byte(20 + i)).PublicKey()
		c.Peers[0].Endpoint = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(2 + 2*i)}), 51822)
		cfgs[i] = c
	}
	cfgs[1].Peers[0].Transparent = []netip.Prefix{pfx("198.18.0.2/32")}
	cfgs[1].Addresses, cfgs[1].Peers[0].AllowedIPs = []netip.Prefix{pfx("10.0.1.1/32")}, []netip.Prefix{pfx("10.0.1.2/32")}
	for i, c := range cfgs {
		tun, err := New(c, WithNetNS(ns.Path))
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		tuns[i] = tun
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tun := range tuns {
		wg.Go(func() { errs[i] = tun.Up(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var got [2]layout
	for i, tun := range tuns {
		rec, err := tun.readRecord()
		if err != nil || rec == nil || len(rec.Layouts) != 1 {
			t.Fatalf("tunnel %d's record = %+v, %v; want one layout", i, rec, err)
		}
		got[i] = rec.Layouts[0]
		l := got[i]
		if l.Table < AutoTableFirst || l.Table > AutoTableLast || l.Priority < AutoPriorityFirst || l.Priority > AutoPriorityLast {
			t.Errorf("tunnel %d chose %+v, outside the auto ranges", i, l)
		}
		if l.Priority <= foreign.Priority && foreign.Priority <= l.Priority+rulelayout.PeerOffset {
			t.Errorf("tunnel %d chose priorities %d-%d over another program's rule %d", i, l.Priority, l.Priority+rulelayout.PeerOffset, foreign.Priority)
		}
	}
	if got[0].Table == got[1].Table || got[0].Priority-got[1].Priority <= rulelayout.PeerOffset && got[1].Priority-got[0].Priority <= rulelayout.PeerOffset {
		t.Errorf("the racing tunnels chose colliding layouts %+v and %+v", got[0], got[1])
	}
	for i, c := range cfgs {
		fresh, err := New(c, WithNetNS(ns.Path))
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		plan, err := fresh.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("layout: table %d, priorities %d-%d (recorded)", got[i].Table, got[i].Priority, got[i].Priority+rulelayout.PeerOffset)
		if len(plan) == 0 || plan[0].Step != want {
			t.Errorf("a fresh Plan of tunnel %d starts with %v, want %q", i, plan, want)
		}
		if err := fresh.Up(ctx); err != nil { // the embedded device lives in the first Tunnel
			t.Errorf("a fresh Up of tunnel %d: %v", i, err)
		}
		if rec, _ := fresh.readRecord(); rec == nil || rec.Layouts[0].Table != got[i].Table || rec.Layouts[0].Priority != got[i].Priority {
			t.Errorf("after a fresh Up tunnel %d's record is %+v, want its first choice %+v", i, rec, got[i])
		}
		if err := fresh.Down(ctx); err != nil {
			t.Errorf("a fresh Down of tunnel %d: %v", i, err)
		}
	}
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("after the Downs (%v):\n%s", err, diff)
	}
}

// TestTableOffUp: a plain tunnel (TableOff) brings its device up with
// its addresses and peers, adds no rule and no route, keeps no record,
// and Down leaves the namespace as it was.
func TestTableOffUp(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "wgqpoff")
	before, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	c := articleA(PeerRouteRule)
	c.Name, c.Table = "wgqpoff", TableOff
	c.Peers[0].Transparent = nil
	tun, err := New(c, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(testns.Diff(before, after), "\n") {
		if strings.Contains(line, "rule") || strings.Contains(line, "route") && !strings.Contains(line, "proto kernel") {
			t.Errorf("Table off made %s", line)
		}
	}
	if dev, err := tun.Device(); err != nil || len(dev.Peers) != 1 {
		t.Errorf("device = %+v, %v; want one peer", dev, err)
	}
	if rec, err := tun.readRecord(); rec == nil || !rec.Plain || len(rec.Layouts) != 0 || err != nil {
		t.Errorf("record = %+v, %v; want a plain tunnel's, without a layout", rec, err)
	}
	if list, err := Recorded(WithNetNS(ns.Path)); err != nil || len(list) != 1 || list[0].Name != c.Name || list[0].Table != TableOff {
		t.Errorf("Recorded = %+v, %v; want the plain tunnel", list, err)
	}
	// Watch keeps a plain tunnel up: its Repairs do not take it for
	// brought down (they did when a plain tunnel kept no record).
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- tun.Watch(wctx) }()
	linkUp := func() bool {
		l, err := ns.Netlink().LinkByName(c.Name)
		return err == nil && l.Attrs().Flags&net.FlagUp != 0
	}
	for deadline := time.Now().Add(10 * time.Second); !linkUp(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Watch's first Up did not bring the link up")
		}
	}
	if err := ns.Netlink().LinkSetDown(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: c.Name}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !linkUp(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not bring the link up again")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Watch of a plain tunnel ended: %v", err)
	case <-time.After(3 * WatchDebounce):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v, want context.Canceled", err)
	}
	if err := tun.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("after Down (%v):\n%s", err, diff)
	}
}

// TestRulePriority: the shared description of the rule layout, which the
// wgquick package renders and reads, is what Up makes.
func TestRulePriority(t *testing.T) {
	for _, pr := range []PeerRoute{PeerRouteRule, PeerRoutePrefix, PeerRouteMain} {
		for _, ex := range []ExceptionMode{ExceptionPort, ExceptionFwMark} {
			c := articleA(pr)
			c.Exception, c.Priority = ex, 1000
			c = c.WithDefaults()
			for _, r := range desiredRules(c) {
				kind := rulelayout.Transparent
				switch {
				case r.Table == inet.TableMain:
					kind = rulelayout.Exception
				case r.Dst == pfx("10.0.0.2/32"):
					kind = rulelayout.Peer
				}
				if got := rulelayout.Priority(c.Priority, kind); got != r.Priority {
					t.Errorf("%s/%s: %s: Priority(%d) = %d", pr, ex, r, kind, got)
				}
				if got := rulelayout.Base(kind, r.Priority); got != c.Priority {
					t.Errorf("%s/%s: Base(%d, %d) = %d, want %d", pr, ex, kind, r.Priority, got, c.Priority)
				}
			}
		}
	}
}

// TestRulesAdvice: Up and Plan suggest RulesTable above
// suggestTableAbove per-destination rules, and only then.
func TestRulesAdvice(t *testing.T) {
	c := articleA(PeerRouteRule).WithDefaults()
	if a := rulesAdvice(c); a != "" {
		t.Errorf("advice for the article's one destination: %q", a)
	}
	for i := range 150 {
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 1}), 32))
	}
	if a := rulesAdvice(c); !strings.Contains(a, "RulesTable") {
		t.Errorf("advice for 151 destinations: %q, want RulesTable suggested", a)
	}
	c.Rules = RulesTable
	if a := rulesAdvice(c); a != "" {
		t.Errorf("advice in table mode: %q", a)
	}
}
