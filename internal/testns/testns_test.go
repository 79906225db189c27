package testns

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { GuardMain(m) }

func TestNew(t *testing.T) {
	RequireRoot(t)
	n := New(t, "new")
	if _, err := os.Stat(n.Path); err != nil {
		t.Fatal(err)
	}
	var links []netlink.Link
	err := n.Do(func() (err error) {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		if !cur.Equal(n.Handle) {
			return errors.New("Do runs outside the namespace")
		}
		links, err = netlink.LinkList()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("links in a new namespace = %v, want lo up", links)
	}
	want := errors.New("fn's error")
	if err := n.Do(func() error { return want }); err != want {
		t.Errorf("Do = %v, want fn's error", err)
	}
}

func TestArticle(t *testing.T) {
	RequireRoot(t)
	w := Article(t)
	ctx := context.Background()
	for _, c := range []struct {
		from *NS
		url  string
		want string
	}{
		{w.C, "http://203.0.113.2/", "192.0.2.3"},
		{w.A, "http://203.0.113.2/", "198.51.100.1"},
		{w.A, "http://[2001:db8:b::2]/", "2001:db8:a::1"},
	} {
		body, err := Get(ctx, c.from, c.url)
		if err != nil || body != "ok\n" {
			t.Errorf("GET %s from %s = %q, %v; want \"ok\\n\"", c.url, c.from.Name, body, err)
			continue
		}
		if got := w.Server.Last(); got != netip.MustParseAddr(c.want) {
			t.Errorf("GET %s from %s: server logged %s, want %s", c.url, c.from.Name, got, c.want)
		}
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8:a::1")}
	if got := w.Server.Clients(); !slices.Equal(got, want) {
		t.Errorf("Clients() = %v, want %v", got, want)
	}
	d := mustDump(t, w.A)
	for _, line := range []string{
		"link eth0 veth mtu 1500 up|broadcast|multicast",
		"addr eth0 198.51.100.1/24 brd 198.51.100.255 scope global permanent",
		"addr eth0 2001:db8:a::1/64 scope global nodad permanent",
		"route4 table main unicast default via 198.51.100.254 dev eth0 proto boot scope global metric 0",
		"route6 table main unicast default via 2001:db8:a::fe dev eth0 proto boot scope global metric 1024",
		"route4 table local local 198.51.100.1/32 dev eth0 proto kernel scope host src 198.51.100.1 metric 0",
		"rule4 32766: lookup main proto kernel",
		"rule6 32766: lookup main proto kernel",
	} {
		if !strings.Contains(d, line+"\n") {
			t.Errorf("dump of A lacks %q:\n%s", line, d)
		}
	}
	if again := mustDump(t, w.A); again != d {
		t.Errorf("two dumps of A differ:\n%s", Diff(d, again))
	}
}

func TestDumpSeesChanges(t *testing.T) {
	RequireRoot(t)
	n := New(t, "dump")
	h := n.Netlink()
	before := mustDump(t, n)
	if again := mustDump(t, n); again != before {
		t.Fatalf("two dumps differ:\n%s", Diff(before, again))
	}
	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.IPProto = 456, 123, unix.IPPROTO_UDP
	rule.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2), Mask: net.CIDRMask(32, 32)}
	rule.Dport = netlink.NewRulePortRange(51822, 51822)
	if err := h.RuleAdd(rule); err != nil {
		t.Fatal(err)
	}
	blackhole := netlink.NewRule()
	blackhole.Priority, blackhole.Family, blackhole.Type = 457, unix.AF_INET6, unix.FR_ACT_BLACKHOLE
	if err := h.RuleAdd(blackhole); err != nil {
		t.Fatal(err)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	route := &netlink.Route{LinkIndex: lo.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("10.9.0.0/16")), Table: 123, Protocol: 87, Scope: netlink.SCOPE_LINK}
	if err := h.RouteAdd(route); err != nil {
		t.Fatal(err)
	}
	want := "+ route4 table 123 unicast 10.9.0.0/16 dev lo proto 87 scope link metric 0\n" +
		"+ rule4 456: to 203.0.113.2/32 ipproto 17 dport 51822 lookup 123\n" +
		"+ rule6 457: blackhole\n"
	if got := Diff(before, mustDump(t, n)); got != want {
		t.Errorf("diff after adding a rule and a route:\n%s\nwant:\n%s", got, want)
	}
	for _, err := range []error{h.RuleDel(rule), h.RuleDel(blackhole), h.RouteDel(route)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := Diff(before, mustDump(t, n)); d != "" {
		t.Errorf("dump differs after removing them again:\n%s", d)
	}
}

func TestWatch(t *testing.T) {
	RequireRoot(t)
	n := Article(t).A
	w := Watch(t, n)
	w.Settle(200 * time.Millisecond)
	w.Reset()
	if ev := w.Settle(300 * time.Millisecond); len(ev) != 0 {
		t.Errorf("events in an idle namespace: %q", ev)
	}
	rule := netlink.NewRule()
	rule.Priority, rule.Table = 456, 123
	rule.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2), Mask: net.CIDRMask(32, 32)}
	if err := n.Netlink().RuleAdd(rule); err != nil {
		t.Fatal(err)
	}
	if err := n.Netlink().RuleDel(rule); err != nil {
		t.Fatal(err)
	}
	want := []string{"RTM_NEWRULE rule4 456: to 203.0.113.2/32 lookup 123", "RTM_DELRULE rule4 456: to 203.0.113.2/32 lookup 123"}
	if got := w.Settle(200 * time.Millisecond); !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

func TestCleanupRemovesNamespaces(t *testing.T) {
	RequireRoot(t)
	var paths []string
	t.Run("world", func(t *testing.T) {
		w := Article(t)
		for _, n := range []*NS{w.Router, w.A, w.B, w.C} {
			paths = append(paths, n.Path)
		}
	})
	if len(paths) != 4 {
		t.Fatalf("the world has %d namespaces, want 4", len(paths))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after cleanup: %v, want it gone", p, err)
		}
	}
}

func TestDiff(t *testing.T) {
	for _, c := range []struct{ before, after, want string }{
		{"a\nb\n", "a\nb\n", ""},
		{"a\nb\nc\n", "a\nc\nd\n", "- b\n+ d\n"},
		{"", "x\n", "+ x\n"},
		{"r1\nr2\n", "r2\nr1\n", "- r1\n+ r1\n"},
	} {
		if got := Diff(c.before, c.after); got != c.want {
			t.Errorf("Diff(%q, %q) = %q, want %q", c.before, c.after, got, c.want)
		}
	}
}

func mustDump(t *testing.T, n *NS) string {
	t.Helper()
	d, err := Dump(n)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
