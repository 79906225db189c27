package transparent

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// step is one kernel write of a plan, with its inverse for rollback.
// Adds treat "already exists" and removes treat "already gone" as done.
type step interface {
	String() string // such as "add rule 456 to 203.0.113.2/32 lookup 123"
	do(t *Tunnel) error
	undo(t *Tunnel) error
	op() Op                   // for Plan (commands.go)
	command(t *Tunnel) string // the equivalent command, for Plan
}

type createLink struct {
	name string
	mtu  int
}

func (s *createLink) String() string {
	return fmt.Sprintf("add link %s mtu %d", s.name, s.mtu)
}

func (s *createLink) do(t *Tunnel) error {
	if err := t.backend.create(s.name, s.mtu); err != nil {
		return err
	}
	link, err := t.nl.LinkByName(s.name)
	if err != nil {
		return fmt.Errorf("look up new link: %w", err)
	}
	t.link = link
	return nil
}

func (s *createLink) undo(t *Tunnel) error { return (&deleteLink{}).do(t) }

type deleteLink struct{}

func (s *deleteLink) String() string { return "delete link" }

func (s *deleteLink) do(t *Tunnel) error {
	if t.link == nil {
		return nil
	}
	err := t.backend.remove(t.link)
	if errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV) {
		err = nil
	}
	if err == nil {
		t.link = nil
	}
	return err
}

func (s *deleteLink) undo(*Tunnel) error { return nil } // Down does not roll back

type configureDevice struct {
	name string
	cfg  wgtypes.Config
	old  *wgtypes.Device // nil for a new device
}

func (s *configureDevice) String() string { return "set " + describeDevice(s.name, &s.cfg) }

func (s *configureDevice) do(t *Tunnel) error { return t.configure(s.name, s.cfg) }

func (s *configureDevice) undo(t *Tunnel) error {
	if s.old == nil {
		return nil // the new link goes away with createLink's undo
	}
	return t.configure(s.name, restoreConfig(s.old))
}

type setMTU struct{ mtu, old int }

func (s *setMTU) String() string       { return fmt.Sprintf("set link mtu %d", s.mtu) }
func (s *setMTU) do(t *Tunnel) error   { return t.nl.LinkSetMTU(t.link, s.mtu) }
func (s *setMTU) undo(t *Tunnel) error { return t.nl.LinkSetMTU(t.link, s.old) }

type setUp struct{}

func (s *setUp) String() string { return "set link up" }

func (s *setUp) do(t *Tunnel) error {
	if err := t.nl.LinkSetUp(t.link); err != nil {
		return err
	}
	return t.backend.linkUp()
}

func (s *setUp) undo(t *Tunnel) error { return t.nl.LinkSetDown(t.link) }

type addAddress struct{ addr address }

func (s *addAddress) String() string { return "add " + s.addr.String() }
func (s *addAddress) do(t *Tunnel) error {
	err := ignore(t.nl.AddrAdd(t.link, s.addr.netlink()), unix.EEXIST)
	if errors.Is(err, unix.EACCES) && netip.Prefix(s.addr).Addr().Is6() {
		// The kernel's answer on a link whose IPv6 is disabled: no
		// question of privileges, so no longer matching os.ErrPermission.
		return fmt.Errorf("IPv6 is disabled on %s (%v): set the sysctls net.ipv6.conf.default.disable_ipv6 and net.ipv6.conf.all.disable_ipv6 to 0 (and boot without ipv6.disable=1), or remove the IPv6 addresses and prefixes from the config", t.cfg.Name, err)
	}
	return err
}
func (s *addAddress) undo(t *Tunnel) error { return (&delAddress{s.addr}).do(t) }

type delAddress struct{ addr address }

func (s *delAddress) String() string { return "delete " + s.addr.String() }
func (s *delAddress) do(t *Tunnel) error {
	return ignore(t.nl.AddrDel(t.link, s.addr.netlink()), unix.EADDRNOTAVAIL, unix.ENODEV)
}
func (s *delAddress) undo(t *Tunnel) error { return (&addAddress{s.addr}).do(t) }

type addRoute struct{ route route }

func (s *addRoute) String() string { return "add " + s.route.String() }
func (s *addRoute) do(t *Tunnel) error {
	return ignore(t.nl.RouteAdd(s.route.netlink(t.link.Attrs().Index)), unix.EEXIST)
}
func (s *addRoute) undo(t *Tunnel) error { return (&delRoute{s.route}).do(t) }

type delRoute struct{ route route }

func (s *delRoute) String() string { return "delete " + s.route.String() }
func (s *delRoute) do(t *Tunnel) error {
	dev := 0 // 0 matches any link: destination, table and protocol decide
	if t.link != nil {
		dev = t.link.Attrs().Index
	}
	r := s.route.netlink(dev)
	return ignore(t.nl.RouteDel(r), unix.ESRCH, unix.ENOENT)
}
func (s *delRoute) undo(t *Tunnel) error { return (&addRoute{s.route}).do(t) }

type addRule struct{ rule rule }

func (s *addRule) String() string     { return "add " + s.rule.String() }
func (s *addRule) do(t *Tunnel) error { return ignore(t.nl.RuleAdd(s.rule.netlink()), unix.EEXIST) }
func (s *addRule) undo(t *Tunnel) error {
	return ignore(t.nl.RuleDel(s.rule.netlink()), unix.ENOENT, unix.ESRCH)
}

type delRule struct{ rule ownedRule }

func (s *delRule) String() string {
	if s.rule.ok {
		return "delete " + s.rule.spec.String()
	}
	return fmt.Sprintf("delete rule %d (%s)", s.rule.raw.Priority, s.rule.raw)
}
func (s *delRule) do(t *Tunnel) error {
	raw := s.rule.raw
	return ignore(t.nl.RuleDel(&raw), unix.ENOENT, unix.ESRCH)
}
func (s *delRule) undo(t *Tunnel) error {
	raw := s.rule.raw
	return ignore(t.nl.RuleAdd(&raw), unix.EEXIST)
}

// errInjected is the failure a test injects with Tunnel.failWrite.
var errInjected = errors.New("injected failure")

// ignore returns nil when err is one of the errnos that mean the step's
// goal is already reached.
func ignore(err error, done ...unix.Errno) error {
	for _, e := range done {
		if errors.Is(err, e) {
			return nil
		}
	}
	return err
}
