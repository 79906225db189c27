//go:build linux

package transparent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fakeKernel keeps a model of the kernel objects the tunnel reads and
// writes: links with their addresses and WireGuard devices, policy rules,
// routes, and SNAT chains per firewall. It behaves as the kernel does
// where the tunnel relies on it (a deleted link takes its addresses,
// routes and device with it; adds and removes are idempotent), and
// TestStatesParity keeps it equal to the real kernel.
type fakeKernel struct {
	links     []*fakeLink
	nextIndex int
	ruleList  []netlink.Rule
	routeList []netlink.Route
	chains    map[chainKey]*fakeChain
	wireguard bool // the kernel has WireGuard: links are "wireguard", else "tuntap"
	nftables  bool // FirewallAuto finds nf_tables
	sysctls   map[string]string
	ownIndex  int              // the link of the embedded device "this process" runs
	clashes   map[string]error // embedded devices of other namespaces by name: UAPIClash's answers

	lost       chan error   // Subscribe's lost: a test sends to end the subscription
	subscribes atomic.Int32 // Subscribe's calls
}

type fakeLink struct {
	info  linuxnet.Link
	addrs []netip.Prefix
	dev   *wgtypes.Device
}

type chainKey struct {
	kind   string
	family int
	name   string
}

type fakeChain struct {
	exists bool
	rules  []netfilter.NATRule
	hooks  []string
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{nextIndex: 10, chains: map[chainKey]*fakeChain{}, nftables: true, sysctls: map[string]string{}, lost: make(chan error)}
}

// addUnderlay gives the fake the public side of the article's A: a link
// with its public addresses and default routes in main.
func (k *fakeKernel) addUnderlay(name string, addrs []netip.Prefix, gateways []netip.Addr) {
	l := &fakeLink{info: linuxnet.Link{Name: name, Index: k.nextIndex, Kind: "veth", MTU: 1500, Up: true}, addrs: addrs}
	k.nextIndex++
	k.links = append(k.links, l)
	for _, gw := range gateways {
		k.routeList = append(k.routeList, netlink.Route{
			LinkIndex: l.info.Index, Table: inet.TableMain, Gw: gw.AsSlice(), Family: inet.Family(gw),
			Type: unix.RTN_UNICAST, Protocol: unix.RTPROT_STATIC,
		})
	}
}

func (k *fakeKernel) find(name string) *fakeLink {
	for _, l := range k.links {
		if l.info.Name == name {
			return l
		}
	}
	return nil
}

func (k *fakeKernel) Link(name string) (*linuxnet.Link, error) {
	if l := k.find(name); l != nil {
		info := l.info
		return &info, nil
	}
	return nil, nil
}

func (k *fakeKernel) LinkByIndex(index int) (*linuxnet.Link, error) {
	for _, l := range k.links {
		if l.info.Index == index {
			info := l.info
			return &info, nil
		}
	}
	return nil, nil
}

func (k *fakeKernel) Addresses(index int) ([]netip.Prefix, error) {
	for _, l := range k.links {
		if l.info.Index == index {
			return slices.Clone(l.addrs), nil
		}
	}
	return nil, fmt.Errorf("link %d: %w", index, unix.ENODEV)
}

func (k *fakeKernel) Rules(fam int) ([]netlink.Rule, error) {
	var out []netlink.Rule
	for _, r := range k.ruleList {
		if r.Family == fam {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b netlink.Rule) int { return a.Priority - b.Priority })
	return out, nil
}

func (k *fakeKernel) Routes(fam, table int) ([]linuxnet.KernelRoute, error) {
	var out []linuxnet.KernelRoute
	for _, r := range k.routeList {
		if r.Family == fam && (table == 0 || r.Table == table) {
			out = append(out, linuxnet.KernelRouteOf(r))
		}
	}
	return out, nil
}

func (k *fakeKernel) EachRoute(fam, table int, reset func(), fn func(linuxnet.KernelRoute)) error {
	routes, err := k.Routes(fam, table)
	reset()
	for _, r := range routes {
		fn(r)
	}
	return err
}

func (k *fakeKernel) Device(name string) (*wgtypes.Device, error) {
	l := k.find(name)
	if l == nil || l.dev == nil {
		return nil, nil
	}
	d := *l.dev
	d.Peers = slices.Clone(d.Peers)
	return &d, nil
}

func (k *fakeKernel) EmbeddedIndex() int                { return k.ownIndex }
func (k *fakeKernel) UAPIClash(name string) error       { return k.clashes[name] }
func (k *fakeKernel) DeviceGone(string) error           { return nil }
func (k *fakeKernel) HasKernelWireGuard() (bool, error) { return k.wireguard, nil }

func (k *fakeKernel) Sysctl(key string) (string, error) {
	if v, ok := k.sysctls[key]; ok {
		return v, nil
	}
	return "0", nil
}

func (k *fakeKernel) Firewall(want netfilter.Want) (netfilter.Driver, error) {
	switch {
	case want == netfilter.WantNftables || want == netfilter.WantAuto && k.nftables:
		return &fakeFirewall{k: k, kindName: netfilter.KindNftables}, nil
	case want == netfilter.WantIPTablesLegacy:
		return &fakeFirewall{k: k, kindName: netfilter.KindIPTables + "-legacy"}, nil
	}
	return &fakeFirewall{k: k, kindName: netfilter.KindIPTables + "-nft"}, nil
}

func (k *fakeKernel) FirewallOfKind(kind string) (netfilter.Driver, error) {
	return &fakeFirewall{k: k, kindName: kind}, nil
}

func (k *fakeKernel) CreateLink(name string, mtu int, embedded bool) error {
	if k.find(name) != nil {
		return fmt.Errorf("create link %s: %w", name, unix.EEXIST)
	}
	kind := "wireguard"
	if embedded {
		kind = "tuntap"
	} else if !k.wireguard {
		return fmt.Errorf("add wireguard link: %w", unix.EOPNOTSUPP)
	}
	l := &fakeLink{info: linuxnet.Link{Name: name, Index: k.nextIndex, Kind: kind, MTU: mtu, Ours: true}, dev: &wgtypes.Device{Name: name}}
	k.nextIndex++
	k.links = append(k.links, l)
	if embedded {
		k.ownIndex = l.info.Index
	}
	return nil
}

func (k *fakeKernel) DeleteLink(name string) error {
	l := k.find(name)
	if l == nil {
		return nil
	}
	k.links = slices.DeleteFunc(k.links, func(x *fakeLink) bool { return x == l })
	k.flushRoutes(l.info.Index, 0)
	if k.ownIndex == l.info.Index {
		k.ownIndex = 0
	}
	return nil
}

func (k *fakeKernel) named(name string) (*fakeLink, error) {
	if l := k.find(name); l != nil {
		return l, nil
	}
	return nil, fmt.Errorf("look up link %s: %w", name, unix.ENODEV)
}

func (k *fakeKernel) SetMTU(name string, mtu int) error {
	l, err := k.named(name)
	if err == nil {
		l.info.MTU = mtu
	}
	return err
}

func (k *fakeKernel) SetUp(name string) error {
	l, err := k.named(name)
	if err == nil {
		l.info.Up = true
	}
	return err
}

// setDown takes the routes through the link and its IPv6 addresses
// with it, as the kernel does (net.ipv6.conf.*.keep_addr_on_down is 0).
func (k *fakeKernel) SetDown(name string) error {
	l, err := k.named(name)
	if err == nil {
		l.info.Up = false
		k.flushRoutes(l.info.Index, 0)
		l.addrs = slices.DeleteFunc(l.addrs, func(a netip.Prefix) bool { return a.Addr().Is6() })
	}
	return err
}

// flushRoutes removes the routes through a link, of one family or (0)
// all.
func (k *fakeKernel) flushRoutes(index, fam int) {
	k.routeList = slices.DeleteFunc(k.routeList, func(r netlink.Route) bool {
		return r.LinkIndex == index && (fam == 0 || r.Family == fam)
	})
}

func (k *fakeKernel) AddAddress(name string, a netip.Prefix) error {
	l, err := k.named(name)
	if err == nil && !slices.Contains(l.addrs, a) {
		l.addrs = append(l.addrs, a)
	}
	return err
}

// delAddress removes an address; when it was the link's last IPv4 one,
// the kernel takes the link's IPv4 routes with it.
func (k *fakeKernel) DelAddress(name string, a netip.Prefix) error {
	if l := k.find(name); l != nil {
		l.addrs = slices.DeleteFunc(l.addrs, func(x netip.Prefix) bool { return x == a })
		if a.Addr().Is4() && !slices.ContainsFunc(l.addrs, func(x netip.Prefix) bool { return x.Addr().Is4() }) {
			k.flushRoutes(l.info.Index, unix.AF_INET)
		}
	}
	return nil
}

// sameRoute compares what the kernel compares when it adds or deletes a
// route of this package's shapes: table, destination, type and metric
// (routes that differ in type or metric stand side by side).
func sameRoute(a, b netlink.Route) bool {
	return a.Table == b.Table && a.Family == b.Family && a.Dst.String() == b.Dst.String() &&
		routeType(a) == routeType(b) && a.Priority == b.Priority
}

// routeType is r's type, RTN_UNICAST for a route made without one.
func routeType(r netlink.Route) int {
	if r.Type == 0 {
		return unix.RTN_UNICAST
	}
	return r.Type
}

func (k *fakeKernel) AddRoute(name string, r linuxnet.Route) error {
	l, err := k.named(name)
	if err != nil {
		return err
	}
	nr := *r.Netlink(l.info.Index)
	if r.Unreachable {
		nr.LinkIndex = 0
	}
	if !slices.ContainsFunc(k.routeList, func(x netlink.Route) bool { return sameRoute(x, nr) }) {
		k.routeList = append(k.routeList, nr)
	}
	return nil
}

func (k *fakeKernel) DelRoute(name string, r linuxnet.Route) error {
	nr := *r.Netlink(0)
	k.routeList = slices.DeleteFunc(k.routeList, func(x netlink.Route) bool {
		return sameRoute(x, nr) && x.Protocol == RouteProtocol
	})
	return nil
}

// sameRule compares what the kernel compares when it adds a rule
// (rule_exists) or finds one to delete (rule_find), for rules of this
// package's shapes: a request without a destination matches a rule with
// any destination, as the kernel's does.
func sameRule(have, req netlink.Rule) bool {
	return have.Priority == req.Priority && have.Family == req.Family && have.Table == req.Table && have.Mark == req.Mark &&
		have.IPProto == req.IPProto && (req.Dst == nil || fmt.Sprint(have.Dst) == fmt.Sprint(req.Dst)) &&
		fmt.Sprint(have.Dport) == fmt.Sprint(req.Dport)
}

func (k *fakeKernel) AddRule(r netlink.Rule) error {
	if !slices.ContainsFunc(k.ruleList, func(x netlink.Rule) bool { return sameRule(x, r) }) {
		k.ruleList = append(k.ruleList, r)
	}
	return nil
}

func (k *fakeKernel) DelRule(r netlink.Rule) error {
	if i := slices.IndexFunc(k.ruleList, func(x netlink.Rule) bool { return sameRule(x, r) }); i >= 0 {
		k.ruleList = slices.Delete(k.ruleList, i, i+1)
	}
	return nil
}

// configureDevice applies cfg as WireGuard does: only what is set
// changes; a peer's allowed IPs move to it from any other peer.
func (k *fakeKernel) ConfigureDevice(name string, cfg wgtypes.Config) error {
	l, err := k.named(name)
	if err != nil {
		return err
	}
	d := l.dev
	if cfg.PrivateKey != nil {
		d.PrivateKey, d.PublicKey = *cfg.PrivateKey, cfg.PrivateKey.PublicKey()
	}
	if cfg.ListenPort != nil {
		d.ListenPort = *cfg.ListenPort
	}
	if cfg.FirewallMark != nil {
		d.FirewallMark = *cfg.FirewallMark
	}
	if cfg.ReplacePeers {
		d.Peers = nil
	}
	for _, pc := range cfg.Peers {
		i := slices.IndexFunc(d.Peers, func(p wgtypes.Peer) bool { return p.PublicKey == pc.PublicKey })
		if pc.Remove {
			if i >= 0 {
				d.Peers = slices.Delete(d.Peers, i, i+1)
			}
			continue
		}
		if i < 0 {
			d.Peers = append(d.Peers, wgtypes.Peer{PublicKey: pc.PublicKey})
			i = len(d.Peers) - 1
		}
		p := &d.Peers[i]
		if pc.PresharedKey != nil {
			p.PresharedKey = *pc.PresharedKey
		}
		if pc.Endpoint != nil {
			ep := *pc.Endpoint
			p.Endpoint = &ep
		}
		if pc.PersistentKeepaliveInterval != nil {
			p.PersistentKeepaliveInterval = *pc.PersistentKeepaliveInterval
		}
		if pc.ReplaceAllowedIPs {
			p.AllowedIPs = nil
		}
		for _, n := range pc.AllowedIPs {
			for j := range d.Peers { // an allowed IP belongs to one peer
				d.Peers[j].AllowedIPs = slices.DeleteFunc(d.Peers[j].AllowedIPs, func(x net.IPNet) bool { return x.String() == n.String() })
			}
			p = &d.Peers[i]
			p.AllowedIPs = append(p.AllowedIPs, n)
		}
	}
	return nil
}

// fakeFirewall keeps the chains of one kind of firewall in the model; its
// text is the real firewall's.
type fakeFirewall struct {
	k        *fakeKernel
	kindName string
}

func (f *fakeFirewall) Kind() string { return f.kindName }

func (f *fakeFirewall) chain(family int, name string) *fakeChain {
	key := chainKey{f.kindName, family, name}
	c, ok := f.k.chains[key]
	if !ok {
		c = &fakeChain{}
		f.k.chains[key] = c
	}
	return c
}

func (f *fakeFirewall) ReadChain(family int, name string) (netfilter.ChainState, error) {
	c := f.chain(family, name)
	return netfilter.ChainState{Driver: f, Family: family, Exists: c.exists, Rules: slices.Clone(c.rules), Hooks: slices.Clone(c.hooks)}, nil
}

func (f *fakeFirewall) SetChain(family int, name string, rules []netfilter.NATRule) error {
	c := f.chain(family, name)
	c.exists, c.rules = true, slices.Clone(rules)
	return nil
}

func (f *fakeFirewall) DeleteChain(family int, name string) error {
	c := f.chain(family, name)
	c.exists, c.rules, c.hooks = false, nil, nil
	return nil
}

func (f *fakeFirewall) AddJump(family int, name, hook string) error {
	c := f.chain(family, name)
	if !slices.Contains(c.hooks, hook) {
		c.hooks = append(c.hooks, hook)
	}
	return nil
}

func (f *fakeFirewall) DelJump(family int, name, hook string) error {
	c := f.chain(family, name)
	c.hooks = slices.DeleteFunc(c.hooks, func(h string) bool { return h == hook })
	return nil
}

// Stamp is, for iptables-legacy, what the kernel's summary of a nat
// table shows: how many chains, rules and jumps it holds, so that a rule
// replaced by another leaves it as it was (netfilter.Stamper).
func (f *fakeFirewall) Stamp(family int) (string, error) {
	if f.kindName != netfilter.KindIPTables+"-legacy" {
		return "", errors.New("no stamp but for iptables-legacy")
	}
	var chains, rules, hooks int
	for key, c := range f.k.chains {
		if key.kind == f.kindName && key.family == family && c.exists {
			chains, rules, hooks = chains+1, rules+len(c.rules), hooks+len(c.hooks)
		}
	}
	return fmt.Sprint(chains, rules, hooks), nil
}

func (f *fakeFirewall) Where(family int, name string) string {
	if f.kindName == netfilter.KindNftables {
		return (&netfilter.NFTables{}).Where(family, name)
	}
	return (&netfilter.IPTables{}).Where(family, name)
}

func (f *fakeFirewall) Commands() netfilter.CommandPrinter {
	if f.kindName == netfilter.KindNftables {
		return netfilter.NFTCommands{}
	}
	return netfilter.IPTablesCommands{}
}

// unreachable is what lookup returns for a packet that an unreachable
// route refuses.
const unreachable = "(unreachable)"

// lookup routes a packet as the kernel's policy routing does: the rules in
// priority order, each matching on destination, firewall mark, protocol
// and destination port; the first table with a route to dst decides: its
// longest prefix, and among routes to that prefix the lowest metric (a
// route through a link that is down does not count). It returns the name
// of the link the packet leaves by, unreachable when an unreachable route
// decides (the lookup ends there with an error, as the kernel's does), or
// "" when nothing routes it.
func (k *fakeKernel) lookup(dst netip.Addr, mark uint32, proto int, dport uint16) string {
	rules, _ := k.Rules(inet.Family(dst))
	if !slices.ContainsFunc(rules, func(r netlink.Rule) bool { return r.Table == inet.TableMain && r.Priority == 32766 }) {
		rules = append(rules, netlink.Rule{Priority: 32766, Table: inet.TableMain, Family: inet.Family(dst)})
	}
	for _, r := range rules {
		switch {
		case r.Dst != nil && !inet.PrefixOf(r.Dst).Contains(dst),
			r.Mark != 0 && r.Mark != mark,
			r.IPProto != 0 && r.IPProto != proto,
			r.Dport != nil && (dport < r.Dport.Start || dport > r.Dport.End):
			continue
		}
		best, bits, metric := "", -1, 0
		for _, rt := range k.routeList {
			p := netip.PrefixFrom(dst, 0).Masked() // a route without Dst is the default
			if rt.Dst != nil {
				p = inet.PrefixOf(rt.Dst)
			}
			if rt.Table != r.Table || rt.Family != inet.Family(dst) || !p.Contains(dst) ||
				p.Bits() < bits || p.Bits() == bits && rt.Priority >= metric {
				continue
			}
			if routeType(rt) == unix.RTN_UNREACHABLE {
				best, bits, metric = unreachable, p.Bits(), rt.Priority
			} else if l, _ := k.LinkByIndex(rt.LinkIndex); l != nil && l.Up {
				best, bits, metric = l.Name, p.Bits(), rt.Priority
			}
		}
		if best != "" {
			return best
		}
	}
	return ""
}

func (k *fakeKernel) InNamespace(fn func() error) error { return fn() }

// subscribe reports no change: the fake changes only by the tunnel's own
// writes, which Watch ignores anyway. A test ends the subscription as an
// overflow would by sending on k.lost; k.subscribes counts the calls.
func (k *fakeKernel) Subscribe() (<-chan struct{}, <-chan error, func(), error) {
	k.subscribes.Add(1)
	return make(chan struct{}), k.lost, func() {}, nil
}

func (k *fakeKernel) SubscribeFirewall() (<-chan struct{}, <-chan error, func(), error) {
	return make(chan struct{}), nil, func() {}, nil
}

func (k *fakeKernel) RepairEmbedded() error               { return nil }
func (k *fakeKernel) RemoveStaleSocket(name string) error { return nil }

// stopEmbedded removes the link of the embedded device "this process"
// runs, as closing its TUN file does.
func (k *fakeKernel) StopEmbedded() error {
	if l, _ := k.LinkByIndex(k.ownIndex); l != nil {
		return k.DeleteLink(l.Name)
	}
	return nil
}

func (k *fakeKernel) EmbeddedDone() <-chan struct{} { return nil }
func (k *fakeKernel) FirewallCreated() []string     { return nil }
func (k *fakeKernel) Close() error                  { return k.StopEmbedded() }

// newFakeTunnel is New on the kernel k (the fake, or the fake wrapped),
// keeping its locks and records in stateDir.
func newFakeTunnel(cfg Config, k kernel, stateDir string, opts ...Option) (*Tunnel, error) {
	o, names, err := prepare(cfg, opts)
	if err != nil {
		return nil, err
	}
	return newTunnel(cfg, o, names, k, stateDir), nil
}
