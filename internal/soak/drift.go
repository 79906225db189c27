//go:build linux

package soak

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// A drift is one way someone else can break the running tunnel.
type drift struct {
	name string
	// announced: netlink reports it, so Watch repairs it on its own; the
	// others wait for a periodic Repair (the command's tick), which the
	// soak calls.
	announced bool
	make      func(w *world) error
}

// drifts are the kinds the soak cycles through.
var drifts = []drift{
	{"rule deleted", true, func(w *world) error {
		rules, err := w.A.Netlink().RuleList(netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rules {
			if r.Table == table && r.Dst != nil {
				return w.A.Netlink().RuleDel(&r)
			}
		}
		return fmt.Errorf("no rule of table %d to delete", table)
	}},
	{"route deleted", true, func(w *world) error {
		routes, err := w.A.Netlink().RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst != nil && r.Dst.IP.Equal(publicB.AsSlice()) {
				return w.A.Netlink().RouteDel(&r)
			}
		}
		return fmt.Errorf("no route to %s in table %d to delete", publicB, table)
	}},
	{"address removed", true, func(w *world) error {
		l, err := w.A.Netlink().LinkByName(w.nameA)
		if err != nil {
			return err
		}
		return w.A.Netlink().AddrDel(l, &netlink.Addr{IPNet: &net.IPNet{IP: tunA.AsSlice(), Mask: net.CIDRMask(32, 32)}})
	}},
	{"link down", true, func(w *world) error {
		l, err := w.A.Netlink().LinkByName(w.nameA)
		if err != nil {
			return err
		}
		return w.A.Netlink().LinkSetDown(l)
	}},
	{"device peer changed", false, func(w *world) error {
		return w.A.Do(func() error {
			wg, err := wgctrl.New()
			if err != nil {
				return err
			}
			defer wg.Close()
			return wg.ConfigureDevice(w.nameA, wgtypes.Config{Peers: []wgtypes.PeerConfig{{
				PublicKey: w.keyB.PublicKey(), UpdateOnly: true, ReplaceAllowedIPs: true,
				AllowedIPs: []net.IPNet{{IP: tunB.AsSlice(), Mask: net.CIDRMask(32, 32)}},
			}}})
		})
	}},
	{"SNAT table deleted", false, func(w *world) error {
		_, err := w.A.Nft("delete table ip wgtransparent-" + w.nameA)
		return err
	}},
}
