//go:build linux

package transparent

import (
	"fmt"
	"strconv"
	"strings"

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

func (s *createLink) op() Op { return OpAdd }
func (s *createLink) command() string {
	if s.backend == BackendUserspace {
		return fmt.Sprintf("wireguard-go %s  # embedded, mtu %d, alias %s", s.name, s.mtu, linkAlias)
	}
	return fmt.Sprintf("ip link add %s mtu %d group %#x type wireguard && ip link set %s alias %s", s.name, s.mtu, linkGroup, s.name, linkAlias)
}

func (s *deleteLink) op() Op          { return OpRemove }
func (s *deleteLink) command() string { return "ip link del " + s.name }

func (s *configureDevice) op() Op {
	if s.old == nil {
		return OpAdd
	}
	return OpReplace
}
func (s *configureDevice) command() string {
	return "wg set " + strings.TrimPrefix(describeDevice(s.name, &s.cfg, s.old), "device ")
}

func (s *setMTU) op() Op { return OpReplace }
func (s *setMTU) command() string {
	return fmt.Sprintf("ip link set %s mtu %d", s.name, s.mtu)
}

func (s *setUp) op() Op          { return OpReplace }
func (s *setUp) command() string { return fmt.Sprintf("ip link set %s up", s.name) }

func (s *addAddress) op() Op { return OpAdd }
func (s *addAddress) command() string {
	return fmt.Sprintf("ip address add %s dev %s", s.addr, s.name)
}

func (s *delAddress) op() Op { return OpRemove }
func (s *delAddress) command() string {
	return fmt.Sprintf("ip address del %s dev %s", s.addr, s.name)
}

func (s *addRoute) op() Op          { return OpAdd }
func (s *addRoute) command() string { return routeCommand("add", s.route, s.name) }

func (s *delRoute) op() Op          { return OpRemove }
func (s *delRoute) command() string { return routeCommand("del", s.route, s.name) }

func (s *addRule) op() Op          { return OpAdd }
func (s *addRule) command() string { return ruleCommand("add", s.rule) }

func (s *delRule) op() Op { return OpRemove }
func (s *delRule) command() string {
	if s.rule.ok {
		return ruleCommand("del", s.rule.spec)
	}
	return fmt.Sprintf("ip rule del priority %d  # %s", s.rule.raw.Priority, s.rule.raw)
}

func (s *setChain) op() Op {
	if s.old.exists {
		return OpReplace
	}
	return OpAdd
}
func (s *setChain) command() string {
	return s.fw.commands().setChain(s.family, s.name, s.rules, s.old.exists)
}

func (s *delChain) op() Op { return OpRemove }
func (s *delChain) command() string {
	return s.fw.commands().deleteChain(s.family, s.name)
}

func (s *addJump) op() Op { return OpAdd }
func (s *addJump) command() string {
	return s.fw.commands().jump(s.family, s.name, s.hook, true)
}

func (s *delJump) op() Op { return OpRemove }
func (s *delJump) command() string {
	return s.fw.commands().jump(s.family, s.name, s.hook, false)
}

// deviceInSync stands for the device settings in a plan when they already
// match: its command is built from the config only if Plan prints it, not
// on every Up.
type deviceInSync struct{ cfg Config }

func (s *deviceInSync) String() string    { return "set device " + s.cfg.Name }
func (s *deviceInSync) do(kernel) error   { return nil }
func (s *deviceInSync) undo(kernel) error { return nil }
func (s *deviceInSync) op() Op            { return OpKeep }
func (s *deviceInSync) command() string {
	return (&configureDevice{name: s.cfg.Name, cfg: *deviceDiff(s.cfg, nil)}).command()
}

// keep is a plan's line for an object that is already as the config says.
// It writes nothing: run skips it.
type keep struct{ of step } // the step that would make the object

func (k *keep) String() string    { return "keep " + strings.SplitN(k.of.String(), " ", 2)[1] }
func (k *keep) op() Op            { return OpKeep }
func (k *keep) command() string   { return k.of.command() }
func (k *keep) do(kernel) error   { return nil }
func (k *keep) undo(kernel) error { return nil }

func ipFamilyFlag(family int) string {
	if family == unix.AF_INET6 {
		return "ip -6 "
	}
	return "ip "
}

func routeCommand(verb string, r route, dev string) string {
	if r.Unreachable {
		return fmt.Sprintf("%sroute %s unreachable %s table %s metric %d proto %d", ipFamilyFlag(family(r.Dst.Addr())), verb, r.Dst, tableName(r.Table), r.Metric, RouteProtocol)
	}
	return fmt.Sprintf("%sroute %s %s dev %s table %s proto %d", ipFamilyFlag(family(r.Dst.Addr())), verb, r.Dst, dev, tableName(r.Table), RouteProtocol)
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
	s += " lookup " + tableName(r.Table)
	if r.Suppress {
		s += " suppress_prefixlength 0"
	}
	return s + fmt.Sprintf(" priority %d proto %d", r.Priority, RouteProtocol)
}
