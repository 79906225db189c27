//go:build linux

package transparent

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/wgdevice"
	"golang.org/x/sys/unix"
)

// Op is what a plan does to an object.
type Op string

// The operations of a plan.
const (
	OpAdd     Op = "add"
	OpRemove  Op = "remove"
	OpReplace Op = "replace" // change an object in place
	OpKeep    Op = "keep"    // already as the config says
)

// Change is one line of a plan: what Up does, or would do, to one object.
type Change struct {
	Op      Op
	Step    string // as in logs and errors: "add rule 456 to 203.0.113.2/32 lookup 123"
	Command string // the equivalent ip, wg, nft or iptables command
}

func (c Change) String() string { return fmt.Sprintf("%-7s %s", c.Op, c.Command) }

// The equivalent commands of each step, as a person would type them.

func (s *createLinkStep) op() Op { return OpAdd }
func (s *createLinkStep) command() string {
	if s.backend == BackendUserspace {
		return fmt.Sprintf("wireguard-go %s  # embedded, mtu %d, alias %s", s.name, s.mtu, wgdevice.LinkAlias)
	}
	return fmt.Sprintf("ip link add %s mtu %d group %#x type wireguard && ip link set %s alias %s", s.name, s.mtu, wgdevice.LinkGroup, s.name, wgdevice.LinkAlias)
}

func (s *deleteLinkStep) op() Op          { return OpRemove }
func (s *deleteLinkStep) command() string { return "ip link del " + s.name }

func (s *configureDeviceStep) op() Op {
	if s.old == nil {
		return OpAdd
	}
	return OpReplace
}
func (s *configureDeviceStep) command() string {
	return "wg set " + strings.TrimPrefix(describeDevice(s.name, &s.cfg, s.old), "device ")
}

func (s *setMTUStep) op() Op { return OpReplace }
func (s *setMTUStep) command() string {
	return fmt.Sprintf("ip link set %s mtu %d", s.name, s.mtu)
}

func (s *setUpStep) op() Op          { return OpReplace }
func (s *setUpStep) command() string { return fmt.Sprintf("ip link set %s up", s.name) }

func (s *addAddressStep) op() Op { return OpAdd }
func (s *addAddressStep) command() string {
	return fmt.Sprintf("ip address add %s dev %s", s.addr, s.name)
}

func (s *delAddressStep) op() Op { return OpRemove }
func (s *delAddressStep) command() string {
	return fmt.Sprintf("ip address del %s dev %s", s.addr, s.name)
}

func (s *addRouteStep) op() Op          { return OpAdd }
func (s *addRouteStep) command() string { return routeCommand("add", s.route, s.name) }

func (s *delRouteStep) op() Op          { return OpRemove }
func (s *delRouteStep) command() string { return routeCommand("del", s.route, s.name) }

func (s *addRuleStep) op() Op          { return OpAdd }
func (s *addRuleStep) command() string { return ruleCommand("add", s.rule) }

func (s *delRuleStep) op() Op { return OpRemove }
func (s *delRuleStep) command() string {
	if s.rule.ok {
		return ruleCommand("del", s.rule.spec)
	}
	return fmt.Sprintf("ip rule del priority %d  # %s", s.rule.raw.Priority, s.rule.raw)
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

func (s *delChainStep) op() Op { return OpRemove }
func (s *delChainStep) command() string {
	return s.fw.Commands().DeleteChainCommand(s.family, s.name)
}

func (s *addJumpStep) op() Op { return OpAdd }
func (s *addJumpStep) command() string {
	return s.fw.Commands().JumpCommand(s.family, s.name, s.hook, true)
}

func (s *delJumpStep) op() Op { return OpRemove }
func (s *delJumpStep) command() string {
	return s.fw.Commands().JumpCommand(s.family, s.name, s.hook, false)
}

// deviceInSync stands for the device settings in a plan when they already
// match: its command is built from the config only if Plan prints it, not
// on every Up.
type deviceInSyncStep struct{ cfg Config }

func (s *deviceInSyncStep) String() string    { return "set device " + s.cfg.Name }
func (s *deviceInSyncStep) do(kernel) error   { return nil }
func (s *deviceInSyncStep) undo(kernel) error { return nil }
func (s *deviceInSyncStep) op() Op            { return OpKeep }
func (s *deviceInSyncStep) command() string {
	return (&configureDeviceStep{name: s.cfg.Name, cfg: *deviceDiff(s.cfg, nil)}).command()
}

// keepStep is a plan's line for an object that is already as the config says.
// It writes nothing: run skips it.
type keepStep struct{ of step } // the step that would make the object

func (k *keepStep) String() string    { return "keep " + strings.SplitN(k.of.String(), " ", 2)[1] }
func (k *keepStep) op() Op            { return OpKeep }
func (k *keepStep) command() string   { return k.of.command() }
func (k *keepStep) do(kernel) error   { return nil }
func (k *keepStep) undo(kernel) error { return nil }

func ipFamilyFlag(family int) string {
	if family == unix.AF_INET6 {
		return "ip -6 "
	}
	return "ip "
}

func routeCommand(verb string, r linuxnet.Route, dev string) string {
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
