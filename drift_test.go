package transparent_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestDriftCheckedAndRepaired breaks a running tunnel in each way someone
// else could, checks that Check reports it (naming what Up would do) and
// that Up repairs it: the request goes through the tunnel again and Check
// is quiet.
func TestDriftCheckedAndRepaired(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	cfgA, cfgB := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	a, b := newTunnel(t, cfgA, w.A), newTunnel(t, cfgB, w.B)
	ctx := context.Background()
	for _, tun := range []*transparent.Tunnel{b, a} {
		if err := tun.Up(ctx); err != nil {
			t.Fatalf("Up: %v", err)
		}
	}
	h := w.A.Netlink()
	rule456 := func(priority int) *netlink.Rule {
		r := netlink.NewRule()
		r.Priority, r.Table, r.Protocol = priority, 123, transparent.RouteProtocol
		r.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2).To4(), Mask: net.CIDRMask(32, 32)}
		return r
	}
	link := func() netlink.Link {
		l, err := h.LinkByName(cfgA.Name)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	where, flushSNAT, removeJump := snatChain(t, w.A, cfgA.Name)
	for _, tc := range []struct {
		name  string
		drift func() error
		want  string // in Check's report
	}{
		{"deleted rule", func() error { return h.RuleDel(rule456(456)) }, "add rule 456 to 203.0.113.2/32 lookup 123"},
		{"changed rule priority", func() error {
			if err := h.RuleDel(rule456(456)); err != nil {
				return err
			}
			return h.RuleAdd(rule456(457))
		}, "delete rule 457 to 203.0.113.2/32 lookup 123"},
		{"deleted route", func() error {
			return h.RouteDel(&netlink.Route{Table: 123, Scope: netlink.SCOPE_LINK, Dst: &net.IPNet{IP: net.IPv4(203, 0, 113, 2).To4(), Mask: net.CIDRMask(32, 32)}})
		}, "add route 203.0.113.2/32 table 123"},
		{"link down", func() error { return h.LinkSetDown(link()) }, "set link up"},
		{"address removed", func() error {
			return h.AddrDel(link(), &netlink.Addr{IPNet: &net.IPNet{IP: tunA.AsSlice(), Mask: net.CIDRMask(32, 32)}})
		}, "add address 10.0.0.1/32"},
		{"peer AllowedIPs changed", func() error {
			return w.A.Do(func() error {
				wg, err := wgctrl.New()
				if err != nil {
					return err
				}
				defer wg.Close()
				return wg.ConfigureDevice(cfgA.Name, wgtypes.Config{Peers: []wgtypes.PeerConfig{{
					PublicKey: w.keyB.PublicKey(), UpdateOnly: true, ReplaceAllowedIPs: true,
					AllowedIPs: []net.IPNet{{IP: tunB.AsSlice(), Mask: net.CIDRMask(32, 32)}},
				}}})
			})
		}, "allowed-ips +203.0.113.2/32"}, // added back alone: the peer keeps 10.0.0.2/32 throughout
		{"SNAT rule deleted", flushSNAT, "set " + where},
		{"jump removed", removeJump, "add jump from POSTROUTING to " + where},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := a.Check(ctx); err != nil {
				t.Fatalf("Check before the drift: %v", err)
			}
			if err := tc.drift(); err != nil {
				t.Fatalf("make the drift: %v", err)
			}
			err := a.Check(ctx)
			if !errors.Is(err, transparent.ErrDrift) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v\nwant ErrDrift mentioning %q", err, tc.want)
			}
			if err := a.Up(ctx); err != nil {
				t.Fatalf("Up to repair: %v", err)
			}
			if err := a.Check(ctx); err != nil {
				t.Errorf("Check after the repair: %v", err)
			}
			w.expectClient(t, w.A, ipv4.url(publicB), publicA)
		})
	}
}
