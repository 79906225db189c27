package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// show prints the live tunnel like `wg show`, then its rules and routes;
// with --json, the same as one object.
func (c *command) show(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	cfg, err := tun.Layout(ctx) // Table and Priority auto: the recorded values
	if err != nil {
		return exitError, err
	}
	dev, err := tun.Device()
	gone := errors.Is(err, transparent.ErrDeviceGone)
	if err != nil && !gone {
		return exitError, err
	}
	out := showJSON{Interface: cfg.Name, Up: dev != nil, Device: deviceOf(dev, cfg), Rules: []ruleJSON{}, Routes: []routeJSON{}, Names: []nameJSON{}}
	if gone {
		out.Problem = c.goneText()
	}
	if out.Names, err = showNames(ctx, tun); err != nil {
		return exitError, err
	}
	if out.Peers, err = peerStates(ctx, tun, cfg); err != nil {
		return exitError, err
	}
	if out.Rules, out.Routes, err = c.kernelObjects(cfg.Priority, cfg.Table); err != nil {
		return exitError, err
	}
	out.Keeper = c.keeperOf(cfg.Name)
	if c.json {
		err = writeJSON(c.stdout, out)
	} else {
		c.showText(out, cfg)
	}
	if err == nil && gone {
		return exitError, errors.New(out.Problem)
	}
	return exitOK, err
}

// kernelObjects reads the tunnel's rules (at priority to priority+2,
// with the library's protocol marker) and the routes of its table, in the
// tunnel's namespace.
func (c *command) kernelObjects(priority, table int) (rules []ruleJSON, routes []routeJSON, err error) {
	rules, routes = []ruleJSON{}, []routeJSON{}
	err = c.inNetNS(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("open netlink: %w", err)
		}
		defer h.Close()
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			list, err := h.RuleList(fam)
			if err != nil {
				return fmt.Errorf("list rules: %w", err)
			}
			for _, r := range list {
				if priority > 0 && r.Priority >= priority && r.Priority <= priority+2 && r.Protocol == transparent.RouteProtocol {
					rules = append(rules, ruleJSON{Priority: r.Priority, Family: familyName(fam), Text: ruleText(r)})
				}
			}
		}
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			if table <= 0 { // Table off, or auto and not up
				break
			}
			list, err := h.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
			if err != nil {
				return fmt.Errorf("list routes: %w", err)
			}
			for _, r := range list {
				rj := routeJSON{Destination: fmt.Sprint(r.Dst), Table: r.Table, Metric: r.Priority, Protocol: int(r.Protocol)}
				if r.Type == unix.RTN_UNREACHABLE {
					rj.Type = "unreachable"
				} else if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
					rj.Device = l.Attrs().Name
				} else {
					rj.Device = fmt.Sprint(r.LinkIndex)
				}
				routes = append(routes, rj)
			}
		}
		return nil
	})
	return rules, routes, err
}

// goneText says that the tunnel's embedded device died with its process,
// and how to restore it.
func (c *command) goneText() string {
	arg := c.file
	if name := strings.TrimSuffix(filepath.Base(c.file), ".conf"); configPath(name) == c.file {
		arg = name
	}
	if c.netns != "" {
		arg += " --netns " + c.netns
	}
	return fmt.Sprintf("the embedded device's process is gone: run `%s up %s` to restore it", program, arg)
}

func (c *command) showText(s showJSON, cfg transparent.Config) {
	w := c.stdout
	if d := s.Device; d == nil && s.Problem != "" {
		fmt.Fprintf(w, "interface: %s is not up: %s\n", s.Interface, s.Problem)
	} else if d == nil {
		fmt.Fprintf(w, "interface: %s is not up\n", s.Interface)
	} else {
		fmt.Fprintf(w, "interface: %s (%s)\n  public key: %s\n  listening port: %d\n", d.Name, d.Type, d.PublicKey, d.ListenPort)
		if s.Keeper != "" {
			fmt.Fprintf(w, "  kept up by: %s\n", s.Keeper)
		}
		if d.FwMark != 0 {
			fmt.Fprintf(w, "  fwmark: %#x\n", d.FwMark)
		}
		for _, p := range d.Peers {
			fmt.Fprintf(w, "\npeer: %s\n", p.PublicKey)
			if p.Endpoint != "" {
				fmt.Fprintf(w, "  endpoint: %s\n", p.Endpoint)
			}
			fmt.Fprintf(w, "  allowed ips: %s\n", strings.Join(p.AllowedIPs, ", "))
			if t, err := time.Parse(time.RFC3339, p.LatestHandshake); err == nil {
				fmt.Fprintf(w, "  latest handshake: %s ago\n", time.Since(t).Round(time.Second))
			}
			fmt.Fprintf(w, "  transfer: %d B received, %d B sent\n", p.ReceiveBytes, p.TransmitBytes)
		}
	}
	switch {
	case cfg.Table == transparent.TableOff:
		fmt.Fprintf(w, "\nrules and routes: none (Table = off)\n")
	case cfg.Table == transparent.TableAuto || cfg.Priority == transparent.PriorityAuto:
		fmt.Fprintf(w, "\nrules and routes: none (Table = auto, and no table chosen yet)\n")
	}
	if cfg.Priority > 0 && cfg.Table > 0 {
		fmt.Fprintf(w, "\nrules (priorities %d-%d, proto %d):\n", cfg.Priority, cfg.Priority+2, transparent.RouteProtocol)
		for _, r := range s.Rules {
			fmt.Fprintf(w, "  %s\n", r.Text)
		}
		fmt.Fprintf(w, "\nroutes (table %d):\n", cfg.Table)
		for _, r := range s.Routes {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
	if slices.ContainsFunc(s.Peers, func(p peerStateJSON) bool { return p.Fallback != transparent.FallbackNone.String() }) {
		fmt.Fprintf(w, "\nfailover:\n")
		printPeerStates(w, "  ", s.Peers)
	}
	if len(s.Names) > 0 {
		fmt.Fprintf(w, "\ntransparent names (resolved now):\n")
	}
	for _, n := range s.Names {
		if n.Error != "" {
			fmt.Fprintf(w, "  %s: %s\n", n.Name, n.Error)
			continue
		}
		next := ""
		if t, err := time.Parse(time.RFC3339, n.NextLookup); err == nil {
			next = fmt.Sprintf(", next lookup within %s", time.Until(t).Round(time.Second))
		}
		fmt.Fprintf(w, "  %s: %s (ttl %ds%s)\n", n.Name, strings.Join(n.Addresses, ", "), n.TTLSeconds, next)
	}
}

// showNames resolves the peers' Transparent host names: show runs in a
// process of its own, which has no answers of a running tunnel, so it
// asks the tunnel's name server itself, from the tunnel's namespace.
func showNames(ctx context.Context, tun *transparent.Tunnel) ([]nameJSON, error) {
	names, err := tun.LookupNames(ctx)
	if err != nil {
		return nil, err
	}
	out := []nameJSON{}
	for _, n := range names {
		nj := nameJSON{Name: n.Name, Addresses: []string{}, TTLSeconds: int(n.TTL / time.Second)}
		for _, a := range n.Addrs {
			nj.Addresses = append(nj.Addresses, a.String())
		}
		if n.Err != nil {
			nj.Error = n.Err.Error()
		} else {
			nj.NextLookup = n.Next.UTC().Format(time.RFC3339)
		}
		out = append(out, nj)
	}
	return out, nil
}

// hiddenKey stands for a secret key, as the library prints one.
const hiddenKey = "(hidden)"

// deviceOf is the device's public part; nil when it is not up. A peer's
// key that is a secret of the device or of cfg (a private key pasted as a
// peer's PublicKey) is hidden, as the library hides it.
func deviceOf(dev *wgtypes.Device, cfg transparent.Config) *deviceJSON {
	if dev == nil {
		return nil
	}
	secret := map[wgtypes.Key]bool{dev.PrivateKey: true}
	for _, p := range dev.Peers {
		secret[p.PresharedKey] = true
	}
	delete(secret, wgtypes.Key{})
	peerKey := func(k wgtypes.Key) string {
		if secret[k] {
			return hiddenKey
		}
		return cfg.RedactKey(k)
	}
	d := &deviceJSON{Name: dev.Name, Type: dev.Type.String(), PublicKey: dev.PublicKey.String(), ListenPort: dev.ListenPort, FwMark: dev.FirewallMark, Peers: []peerJSON{}}
	for _, p := range dev.Peers {
		pj := peerJSON{PublicKey: peerKey(p.PublicKey), AllowedIPs: []string{}, Keepalive: int(p.PersistentKeepaliveInterval / time.Second),
			ReceiveBytes: p.ReceiveBytes, TransmitBytes: p.TransmitBytes}
		if p.Endpoint != nil {
			pj.Endpoint = p.Endpoint.String()
		}
		for _, a := range p.AllowedIPs {
			pj.AllowedIPs = append(pj.AllowedIPs, a.String())
		}
		if !p.LastHandshakeTime.IsZero() {
			pj.LatestHandshake = p.LastHandshakeTime.UTC().Format(time.RFC3339)
		}
		d.Peers = append(d.Peers, pj)
	}
	return d
}

func familyName(fam int) string {
	if fam == unix.AF_INET6 {
		return "inet6"
	}
	return "inet"
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
