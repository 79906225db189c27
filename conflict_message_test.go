package transparent_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"golang.org/x/sys/unix"
)

// TestArticleSetupConflict: on a host where the article's wg-quick setup
// is up (its device, standing for wireguard-go's TUN, with the peer's
// public address routed in table 123, and the hooks' rules 455 and 456
// without the library's protocol), Plan and Up refuse with ErrConflict
// naming each rule whole (rule 455 with its ipproto and dport) and
// saying what to do: `wg-quick down` of that device first, or another
// Priority. Nothing changes.
func TestArticleSetupConflict(t *testing.T) {
	w := newArticle(t)
	h := w.A.Netlink()
	const quick = "wgmsquick0" // wg-quick's interface
	tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: quick}, Mode: netlink.TUNTAP_MODE_TUN, Flags: netlink.TUNTAP_DEFAULTS | netlink.TUNTAP_NO_PI}
	// A TUN device is made in the namespace of the thread that opens
	// /dev/net/tun, whatever the netlink handle's.
	if err := w.A.Do(func() error { return netlink.LinkAdd(tun) }); err != nil {
		t.Fatalf("add %s: %v", quick, err)
	}
	link, err := h.LinkByName(quick)
	if err == nil {
		err = h.LinkSetUp(link)
	}
	peer := &net.IPNet{IP: net.IP(publicB.AsSlice()), Mask: net.CIDRMask(32, 32)}
	if err == nil {
		err = h.RouteAdd(&netlink.Route{Dst: peer, LinkIndex: link.Attrs().Index, Table: 123})
	}
	exception := netlink.NewRule()
	exception.Priority, exception.Family, exception.Dst, exception.Table = 455, unix.AF_INET, peer, unix.RT_TABLE_MAIN
	exception.IPProto, exception.Dport = unix.IPPROTO_UDP, netlink.NewRulePortRange(51822, 51822)
	transparentRule := netlink.NewRule()
	transparentRule.Priority, transparentRule.Family, transparentRule.Dst, transparentRule.Table = 456, unix.AF_INET, peer, 123
	for _, r := range []*netlink.Rule{exception, transparentRule} {
		if err == nil {
			err = h.RuleAdd(r)
		}
	}
	if err != nil {
		t.Fatalf("the article's setup: %v", err)
	}
	before := dump(t, w.A)
	tunnel := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
	_, planErr := tunnel.Plan(context.Background())
	upErr := tunnel.Up(context.Background())
	for what, err := range map[string]error{"Plan": planErr, "Up": upErr} {
		if !errors.Is(err, transparent.ErrConflict) {
			t.Fatalf("%s = %v, want ErrConflict", what, err)
		}
		msg := err.Error()
		for _, want := range []string{
			"rule 455: from all to " + netip.PrefixFrom(publicB, 32).String() + " ipproto udp dport 51822 lookup main",
			"rule 456: from all to " + netip.PrefixFrom(publicB, 32).String() + " lookup 123",
			"`wg-quick down " + quick + "`", "choose another Priority",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s = %v\nwant %q in it", what, err, want)
			}
		}
	}
	expectSameDump(t, w.A, before, "after the refused Up")
}
