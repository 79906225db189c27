//go:build linux

package transparent

import (
	"errors"
	"fmt"
	"net/netip"

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
	op() Op          // for Plan (commands.go)
	command() string // the equivalent command, for Plan
}

type createLink struct {
	name    string
	mtu     int
	backend Backend
}

func (s *createLink) String() string      { return fmt.Sprintf("add link %s mtu %d", s.name, s.mtu) }
func (s *createLink) do(k kernel) error   { return k.createLink(s.name, s.mtu, s.backend) }
func (s *createLink) undo(k kernel) error { return k.deleteLink(s.name) }

type deleteLink struct{ name string }

func (s *deleteLink) String() string    { return "delete link" }
func (s *deleteLink) do(k kernel) error { return k.deleteLink(s.name) }
func (s *deleteLink) undo(kernel) error { return nil } // Down does not roll back

type configureDevice struct {
	name string
	cfg  wgtypes.Config
	old  *wgtypes.Device // nil for a new device
}

func (s *configureDevice) String() string    { return "set " + describeDevice(s.name, &s.cfg, s.old) }
func (s *configureDevice) do(k kernel) error { return k.configureDevice(s.name, s.cfg) }

func (s *configureDevice) undo(k kernel) error {
	if s.old == nil {
		return nil // the new link goes away with createLink's undo
	}
	return k.configureDevice(s.name, restoreConfig(s.old))
}

type setMTU struct {
	name     string
	mtu, old int
}

func (s *setMTU) String() string      { return fmt.Sprintf("set link mtu %d", s.mtu) }
func (s *setMTU) do(k kernel) error   { return k.setMTU(s.name, s.mtu) }
func (s *setMTU) undo(k kernel) error { return k.setMTU(s.name, s.old) }

type setUp struct{ name string }

func (s *setUp) String() string      { return "set link up" }
func (s *setUp) do(k kernel) error   { return k.setUp(s.name) }
func (s *setUp) undo(k kernel) error { return k.setDown(s.name) }

type addAddress struct {
	name string
	addr netip.Prefix
}

func (s *addAddress) String() string      { return "add " + address(s.addr).String() }
func (s *addAddress) do(k kernel) error   { return k.addAddress(s.name, s.addr) }
func (s *addAddress) undo(k kernel) error { return k.delAddress(s.name, s.addr) }

type delAddress addAddress

func (s *delAddress) String() string      { return "delete " + address(s.addr).String() }
func (s *delAddress) do(k kernel) error   { return (*addAddress)(s).undo(k) }
func (s *delAddress) undo(k kernel) error { return (*addAddress)(s).do(k) }

type addRoute struct {
	name  string // the tunnel's link
	route route
}

func (s *addRoute) String() string      { return "add " + s.route.String() }
func (s *addRoute) do(k kernel) error   { return k.addRoute(s.name, s.route) }
func (s *addRoute) undo(k kernel) error { return k.delRoute(s.name, s.route) }

type delRoute addRoute

func (s *delRoute) String() string      { return "delete " + s.route.String() }
func (s *delRoute) do(k kernel) error   { return (*addRoute)(s).undo(k) }
func (s *delRoute) undo(k kernel) error { return (*addRoute)(s).do(k) }

type addRule struct{ rule rule }

func (s *addRule) String() string      { return "add " + s.rule.String() }
func (s *addRule) do(k kernel) error   { return k.addRule(*s.rule.netlink()) }
func (s *addRule) undo(k kernel) error { return k.delRule(*s.rule.netlink()) }

type delRule struct{ rule ownedRule }

func (s *delRule) String() string {
	if s.rule.ok {
		return "delete " + s.rule.spec.String()
	}
	return fmt.Sprintf("delete rule %d (%s)", s.rule.raw.Priority, s.rule.raw)
}
func (s *delRule) do(k kernel) error   { return k.delRule(s.rule.raw) }
func (s *delRule) undo(k kernel) error { return k.addRule(s.rule.raw) }

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
