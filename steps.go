//go:build linux

package transparent

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"github.com/wgtransparent/transparent/internal/wgdevice"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// step is one kernel write of a plan, with its inverse for rollback. A
// step carries all its data, the link's name included, and reaches the
// kernel only through the kernel interface it is given.
type step interface {
	String() string // such as "add rule 456 to 203.0.113.2/32 lookup 123"
	do(k kernel) error
	undo(k kernel) error
	op() Op          // for Plan
	command() string // the equivalent command, as a person would type it, for Plan
}

// objectAttrs are the log attributes of the object a step changes.
type objectAttrs interface{ attrs() []slog.Attr }

// createLinkStep makes the tunnel's link.
type createLinkStep struct {
	name    string
	mtu     int
	backend Backend
}

func (s *createLinkStep) String() string { return fmt.Sprintf("add link %s mtu %d", s.name, s.mtu) }

func (s *createLinkStep) do(k kernel) error {
	return k.CreateLink(s.name, s.mtu, s.backend == BackendUserspace)
}

func (s *createLinkStep) undo(k kernel) error { return k.DeleteLink(s.name) }

func (s *createLinkStep) op() Op { return OpAdd }

func (s *createLinkStep) command() string {
	if s.backend == BackendUserspace {
		return fmt.Sprintf("wireguard-go %s  # embedded, mtu %d, alias %s", s.name, s.mtu, wgdevice.LinkAlias)
	}
	return fmt.Sprintf("ip link add %s mtu %d group %#x type wireguard && ip link set %s alias %s", s.name, s.mtu, wgdevice.LinkGroup, s.name, wgdevice.LinkAlias)
}

func (s *createLinkStep) attrs() []slog.Attr { return linkAttr(s.name) }

// deleteLinkStep removes the tunnel's link (Down).
type deleteLinkStep struct{ name string }

func (s *deleteLinkStep) String() string { return "delete link" }

func (s *deleteLinkStep) do(k kernel) error { return k.DeleteLink(s.name) }

func (s *deleteLinkStep) undo(kernel) error { return nil } // Down does not roll back

func (s *deleteLinkStep) op() Op { return OpRemove }

func (s *deleteLinkStep) command() string { return "ip link del " + s.name }

func (s *deleteLinkStep) attrs() []slog.Attr { return linkAttr(s.name) }

// configureDeviceStep applies WireGuard settings; undo restores old.
type configureDeviceStep struct {
	name string
	cfg  wgtypes.Config
	old  *wgtypes.Device // nil for a new device
}

func (s *configureDeviceStep) String() string { return "set " + describeDevice(s.name, &s.cfg, s.old) }

func (s *configureDeviceStep) do(k kernel) error { return k.ConfigureDevice(s.name, s.cfg) }

func (s *configureDeviceStep) undo(k kernel) error {
	if s.old == nil {
		return nil // the new link goes away with createLinkStep's undo
	}
	return k.ConfigureDevice(s.name, restoreConfig(s.old))
}

func (s *configureDeviceStep) op() Op {
	if s.old == nil {
		return OpAdd
	}
	return OpReplace
}

func (s *configureDeviceStep) command() string {
	return "wg set " + strings.TrimPrefix(describeDevice(s.name, &s.cfg, s.old), "device ")
}

func (s *configureDeviceStep) attrs() []slog.Attr {
	secrets := deviceSecrets(&s.cfg, s.old)
	peers := make([]string, len(s.cfg.Peers))
	for i, p := range s.cfg.Peers {
		peers[i] = keyText(p.PublicKey, secrets)
	}
	return append(linkAttr(s.name), slog.Any("peers", peers))
}

// setMTUStep changes the link's MTU.
type setMTUStep struct {
	name     string
	mtu, old int
}

func (s *setMTUStep) String() string { return fmt.Sprintf("set link mtu %d", s.mtu) }

func (s *setMTUStep) do(k kernel) error { return k.SetMTU(s.name, s.mtu) }

func (s *setMTUStep) undo(k kernel) error { return k.SetMTU(s.name, s.old) }

func (s *setMTUStep) op() Op { return OpReplace }

func (s *setMTUStep) command() string {
	return fmt.Sprintf("ip link set %s mtu %d", s.name, s.mtu)
}

func (s *setMTUStep) attrs() []slog.Attr {
	return append(linkAttr(s.name), slog.Int("mtu", s.mtu))
}

// setUpStep brings the link up.
type setUpStep struct{ name string }

func (s *setUpStep) String() string { return "set link up" }

func (s *setUpStep) do(k kernel) error { return k.SetUp(s.name) }

func (s *setUpStep) undo(k kernel) error { return k.SetDown(s.name) }

func (s *setUpStep) op() Op { return OpReplace }

func (s *setUpStep) command() string { return fmt.Sprintf("ip link set %s up", s.name) }

func (s *setUpStep) attrs() []slog.Attr { return linkAttr(s.name) }

// addAddressStep adds an address to the link.
type addAddressStep struct {
	name string
	addr netip.Prefix
}

func (s *addAddressStep) String() string { return "add " + linuxnet.Address(s.addr).String() }

func (s *addAddressStep) do(k kernel) error { return k.AddAddress(s.name, s.addr) }

func (s *addAddressStep) undo(k kernel) error { return k.DelAddress(s.name, s.addr) }

func (s *addAddressStep) op() Op { return OpAdd }

func (s *addAddressStep) command() string {
	return fmt.Sprintf("ip address add %s dev %s", s.addr, s.name)
}

func (s *addAddressStep) attrs() []slog.Attr {
	return append(linkAttr(s.name), slog.String("address", s.addr.String()))
}

// delAddressStep removes an address from the link.
type delAddressStep addAddressStep

func (s *delAddressStep) String() string { return "delete " + linuxnet.Address(s.addr).String() }

func (s *delAddressStep) do(k kernel) error { return (*addAddressStep)(s).undo(k) }

func (s *delAddressStep) undo(k kernel) error { return (*addAddressStep)(s).do(k) }

func (s *delAddressStep) op() Op { return OpRemove }

func (s *delAddressStep) command() string {
	return fmt.Sprintf("ip address del %s dev %s", s.addr, s.name)
}

func (s *delAddressStep) attrs() []slog.Attr { return (*addAddressStep)(s).attrs() }

// addRouteStep adds one of the tunnel's routes.
type addRouteStep struct {
	name  string // the tunnel's link
	route linuxnet.Route
}

func (s *addRouteStep) String() string { return "add " + s.route.String() }

func (s *addRouteStep) do(k kernel) error { return k.AddRoute(s.name, s.route) }

func (s *addRouteStep) undo(k kernel) error { return k.DelRoute(s.name, s.route) }

func (s *addRouteStep) op() Op { return OpAdd }

func (s *addRouteStep) command() string { return routeCommand("add", s.route, s.name) }

func (s *addRouteStep) attrs() []slog.Attr {
	return append(linkAttr(s.name), slog.String("route", s.route.Dst.String()), slog.String("table", inet.TableName(s.route.Table)))
}

// delRouteStep removes one of the tunnel's routes.
type delRouteStep addRouteStep

func (s *delRouteStep) String() string { return "delete " + s.route.String() }

func (s *delRouteStep) do(k kernel) error { return (*addRouteStep)(s).undo(k) }

func (s *delRouteStep) undo(k kernel) error { return (*addRouteStep)(s).do(k) }

func (s *delRouteStep) op() Op { return OpRemove }

func (s *delRouteStep) command() string { return routeCommand("del", s.route, s.name) }

func (s *delRouteStep) attrs() []slog.Attr { return (*addRouteStep)(s).attrs() }

// addRuleStep adds one of the tunnel's policy rules.
type addRuleStep struct{ rule rule }

func (s *addRuleStep) String() string { return "add " + s.rule.String() }

func (s *addRuleStep) do(k kernel) error { return k.AddRule(*s.rule.netlink()) }

func (s *addRuleStep) undo(k kernel) error { return k.DelRule(*s.rule.netlink()) }

func (s *addRuleStep) op() Op { return OpAdd }

func (s *addRuleStep) command() string { return ruleCommand("add", s.rule) }

func (s *addRuleStep) attrs() []slog.Attr {
	return ruleAttrs(s.rule.String(), s.rule.Priority, s.rule.Table)
}

// delRuleStep removes a policy rule the tunnel owns, as read.
type delRuleStep struct{ rule ownedRule }

func (s *delRuleStep) String() string {
	if s.rule.ok {
		return "delete " + s.rule.spec.String()
	}
	return fmt.Sprintf("delete rule %d (%s)", s.rule.raw.Priority, s.rule.raw)
}

func (s *delRuleStep) do(k kernel) error { return k.DelRule(s.rule.raw) }

func (s *delRuleStep) undo(k kernel) error { return k.AddRule(s.rule.raw) }

func (s *delRuleStep) op() Op { return OpRemove }

func (s *delRuleStep) command() string {
	if s.rule.ok {
		return ruleCommand("del", s.rule.spec)
	}
	return fmt.Sprintf("ip rule del priority %d  # %s", s.rule.raw.Priority, s.rule.raw)
}

func (s *delRuleStep) attrs() []slog.Attr {
	if s.rule.ok {
		return ruleAttrs(s.rule.spec.String(), s.rule.spec.Priority, s.rule.spec.Table)
	}
	return ruleAttrs(foreignRuleText(s.rule.raw), s.rule.raw.Priority, s.rule.raw.Table)
}

// deviceInSyncStep stands for the device settings in a plan when they already
// match: its command is built from the config only if Plan prints it, not
// on every Up.
type deviceInSyncStep struct{ cfg Config }

func (s *deviceInSyncStep) String() string { return "set device " + s.cfg.Name }

func (s *deviceInSyncStep) do(kernel) error { return nil }

func (s *deviceInSyncStep) undo(kernel) error { return nil }

func (s *deviceInSyncStep) op() Op { return OpKeep }

func (s *deviceInSyncStep) command() string {
	return (&configureDeviceStep{name: s.cfg.Name, cfg: *deviceDiff(s.cfg, nil)}).command()
}

// keepStep is a plan's line for an object that is already as the config says.
// It writes nothing: apply skips it.
type keepStep struct{ of step }

func (k *keepStep) String() string { return "keep " + strings.SplitN(k.of.String(), " ", 2)[1] }

func (k *keepStep) do(kernel) error { return nil }

func (k *keepStep) undo(kernel) error { return nil }

func (k *keepStep) op() Op { return OpKeep }

func (k *keepStep) command() string { return k.of.command() }

// maxListedRules is how many rules a step's text lists; the rest it
// counts, so that an error about a chain of 10000 rules stays readable.
const maxListedRules = 3

// setChainStep makes the tunnel's SNAT chain hold its rules.
type setChainStep struct {
	fw     netfilter.Driver
	family int
	name   string
	rules  []netfilter.NATRule
	old    netfilter.ChainState
}

func (s *setChainStep) String() string {
	var lines []string
	for _, r := range s.rules[:min(len(s.rules), maxListedRules)] {
		lines = append(lines, r.String())
	}
	if more := len(s.rules) - maxListedRules; more > 0 {
		lines = append(lines, fmt.Sprintf("and %d more", more))
	}
	return fmt.Sprintf("set %s: %s", s.fw.Where(s.family, s.name), strings.Join(lines, "; "))
}

func (s *setChainStep) do(kernel) error { return s.fw.SetChain(s.family, s.name, s.rules) }

func (s *setChainStep) undo(kernel) error {
	if !s.old.Exists {
		return s.fw.DeleteChain(s.family, s.name)
	}
	return s.fw.SetChain(s.family, s.name, s.old.Rules)
}

func (s *setChainStep) op() Op {
	if s.old.Exists {
		return OpReplace
	}
	return OpAdd
}

func (s *setChainStep) command() string {
	return s.fw.Commands().SetChainCommand(s.family, s.name, s.rules, s.old.Exists)
}

func (s *setChainStep) attrs() []slog.Attr { return firewallAttrs(s.fw, s.family) }

// delChainStep deletes the tunnel's SNAT chain.
type delChainStep struct {
	fw     netfilter.Driver
	family int
	name   string
	old    []netfilter.NATRule
}

func (s *delChainStep) String() string { return "delete " + s.fw.Where(s.family, s.name) }

func (s *delChainStep) do(kernel) error { return s.fw.DeleteChain(s.family, s.name) }

func (s *delChainStep) undo(kernel) error { return s.fw.SetChain(s.family, s.name, s.old) }

func (s *delChainStep) op() Op { return OpRemove }

func (s *delChainStep) command() string {
	return s.fw.Commands().DeleteChainCommand(s.family, s.name)
}

func (s *delChainStep) attrs() []slog.Attr { return firewallAttrs(s.fw, s.family) }

// addJumpStep makes a hook jump to the tunnel's chain.
type addJumpStep struct {
	fw         netfilter.Driver
	family     int
	name, hook string
	nat        []string // the nat objects that exist (ChainState.NAT)
}

func (s *addJumpStep) String() string {
	return fmt.Sprintf("add jump from %s to %s", s.hook, s.fw.Where(s.family, s.name))
}

func (s *addJumpStep) do(kernel) error { return s.fw.AddJump(s.family, s.name, s.hook) }

func (s *addJumpStep) undo(kernel) error { return s.fw.DelJump(s.family, s.name, s.hook) }

func (s *addJumpStep) op() Op { return OpAdd }

func (s *addJumpStep) command() string {
	return s.fw.Commands().JumpCommand(s.family, s.name, s.hook, true)
}

func (s *addJumpStep) attrs() []slog.Attr {
	return append(firewallAttrs(s.fw, s.family), slog.String("hook", s.hook))
}

// delJumpStep removes a hook's jump to the tunnel's chain.
type delJumpStep addJumpStep

func (s *delJumpStep) String() string {
	return fmt.Sprintf("delete jump from %s to %s", s.hook, s.fw.Where(s.family, s.name))
}

func (s *delJumpStep) do(k kernel) error { return (*addJumpStep)(s).undo(k) }

func (s *delJumpStep) undo(k kernel) error { return (*addJumpStep)(s).do(k) }

func (s *delJumpStep) op() Op { return OpRemove }

func (s *delJumpStep) command() string {
	return s.fw.Commands().JumpCommand(s.family, s.name, s.hook, false)
}

func (s *delJumpStep) attrs() []slog.Attr { return (*addJumpStep)(s).attrs() }

// pruneNatStep removes the hook chains and then the nat table of a
// family that the tunnel's Ups made with iptables-nft, when they are
// empty (strayNat).
type pruneNatStep struct {
	fw     netfilter.Driver
	family int
	hooks  []string // the hook chains to prune
	table  bool     // and then the table
}

func (s *pruneNatStep) String() string {
	var what []string
	for _, hook := range s.hooks {
		what = append(what, netfilter.MadeKey(s.family, hook))
	}
	if s.table {
		what = append(what, netfilter.MadeKey(s.family, ""))
	}
	return "delete what iptables-nft made for the tunnel, if empty: " + strings.Join(what, ", ")
}

func (s *pruneNatStep) do(kernel) error {
	a, ok := s.fw.(netfilter.Adopter)
	if !ok {
		return nil // strayNat makes the step only for one
	}
	return a.Prune(s.family, s.hooks, s.table)
}

func (s *pruneNatStep) undo(kernel) error { return nil } // empty objects: nothing to restore

func (s *pruneNatStep) op() Op { return OpRemove }

func (s *pruneNatStep) command() string {
	var cmds []string
	for _, hook := range s.hooks {
		cmds = append(cmds, "nft delete chain "+netfilter.MadeKey(s.family, hook))
	}
	if s.table {
		cmds = append(cmds, "nft delete table "+netfilter.MadeKey(s.family, ""))
	}
	return strings.Join(cmds, " && ")
}

func (s *pruneNatStep) attrs() []slog.Attr { return firewallAttrs(s.fw, s.family) }

// ipFamilyFlag, routeCommand and ruleCommand build the steps' commands.
func ipFamilyFlag(family int) string {
	if family == unix.AF_INET6 {
		return "ip -6 "
	}
	return "ip "
}

func routeCommand(verb string, r linuxnet.Route, dev string) string {
	if r.Unreachable {
		return fmt.Sprintf("%sroute %s unreachable %s table %s metric %d proto %d", ipFamilyFlag(inet.Family(r.Dst.Addr())), verb, r.Dst, inet.TableName(r.Table), r.Metric, RouteProtocol)
	}
	return fmt.Sprintf("%sroute %s %s dev %s table %s proto %d", ipFamilyFlag(inet.Family(r.Dst.Addr())), verb, r.Dst, dev, inet.TableName(r.Table), RouteProtocol)
}

func ruleCommand(verb string, r rule) string {
	s := ipFamilyFlag(r.Family) + "rule " + verb
	if r.Dst.IsValid() {
		s += " to " + r.Dst.String()
	}
	if r.Mark != 0 {
		s += fmt.Sprintf(" fwmark %#x", r.Mark)
	}
	if r.IPProto == unix.IPPROTO_UDP {
		s += " ipproto udp"
	}
	if r.DPort != 0 {
		s += " dport " + strconv.Itoa(int(r.DPort))
	}
	s += " lookup " + inet.TableName(r.Table)
	if r.Suppress {
		s += " suppress_prefixlength 0"
	}
	return s + fmt.Sprintf(" priority %d proto %d", r.Priority, RouteProtocol)
}

// linkAttr, ruleAttrs and firewallAttrs build the steps' log attributes.
func linkAttr(name string) []slog.Attr { return []slog.Attr{slog.String("link", name)} }

func ruleAttrs(text string, priority, table int) []slog.Attr {
	return []slog.Attr{slog.String("rule", text), slog.Int("priority", priority), slog.String("table", inet.TableName(table))}
}

func firewallAttrs(fw netfilter.Driver, family int) []slog.Attr {
	return []slog.Attr{slog.String("firewall", fw.Kind()), slog.String("family", inet.FamilyName(family == unix.AF_INET6))}
}
