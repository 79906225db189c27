package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.org/x/sys/unix"
)

// show prints the live tunnel like `wg show`, then its rules and routes.
func (c *command) show(tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	cfg := f.Config
	dev, err := tun.Device()
	if err != nil {
		return exitError, err
	}
	if dev == nil {
		fmt.Fprintf(c.stdout, "interface: %s is not up\n", cfg.Name)
	} else {
		fmt.Fprintf(c.stdout, "interface: %s (%s)\n  public key: %s\n  listening port: %d\n", dev.Name, dev.Type, dev.PublicKey, dev.ListenPort)
		if dev.FirewallMark != 0 {
			fmt.Fprintf(c.stdout, "  fwmark: %#x\n", dev.FirewallMark)
		}
		for _, p := range dev.Peers {
			fmt.Fprintf(c.stdout, "\npeer: %s\n", p.PublicKey)
			if p.Endpoint != nil {
				fmt.Fprintf(c.stdout, "  endpoint: %s\n", p.Endpoint)
			}
			ips := make([]string, len(p.AllowedIPs))
			for i := range p.AllowedIPs {
				ips[i] = p.AllowedIPs[i].String()
			}
			fmt.Fprintf(c.stdout, "  allowed ips: %s\n", strings.Join(ips, ", "))
			if !p.LastHandshakeTime.IsZero() {
				fmt.Fprintf(c.stdout, "  latest handshake: %s ago\n", time.Since(p.LastHandshakeTime).Round(time.Second))
			}
			fmt.Fprintf(c.stdout, "  transfer: %d B received, %d B sent\n", p.ReceiveBytes, p.TransmitBytes)
		}
	}

	priority, table := cfg.Priority, cfg.Table
	if priority == 0 {
		priority = transparent.DefaultPriority
	}
	if table == 0 {
		table = transparent.DefaultTable
	}
	var h *netlink.Handle
	err = c.inNetNS(func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return exitError, fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	fmt.Fprintf(c.stdout, "\nrules (priorities %d-%d, proto %d):\n", priority, priority+2, transparent.RouteProtocol)
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := h.RuleList(fam)
		if err != nil {
			return exitError, fmt.Errorf("list rules: %w", err)
		}
		for _, r := range rules {
			if r.Priority >= priority && r.Priority <= priority+2 && r.Protocol == transparent.RouteProtocol {
				fmt.Fprintf(c.stdout, "  %s\n", ruleText(r))
			}
		}
	}
	fmt.Fprintf(c.stdout, "\nroutes (table %d):\n", table)
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return exitError, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range routes {
			dev := fmt.Sprint(r.LinkIndex)
			if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			fmt.Fprintf(c.stdout, "  %s dev %s proto %d\n", r.Dst, dev, r.Protocol)
		}
	}
	return exitOK, nil
}

// ruleText renders a rule in the words of `ip rule`.
func ruleText(r netlink.Rule) string {
	s := fmt.Sprintf("%d:", r.Priority)
	if r.Dst != nil {
		if p, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			ones, _ := r.Dst.Mask.Size()
			s += " to " + netip.PrefixFrom(p.Unmap(), ones).String()
		}
	}
	if r.Mark != 0 {
		s += fmt.Sprintf(" fwmark %#x", r.Mark)
	}
	if r.IPProto == unix.IPPROTO_UDP {
		s += " ipproto udp"
	}
	if r.Dport != nil {
		s += fmt.Sprintf(" dport %d", r.Dport.Start)
	}
	table := fmt.Sprint(r.Table)
	if r.Table == unix.RT_TABLE_MAIN {
		table = "main"
	}
	return s + " lookup " + table
}
