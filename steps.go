//go:build linux

package transparent

import (
	"fmt"
	"net/netip"

	"github.com/wgtransparent/transparent/internal/linuxnet"
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

type deleteLinkStep struct{ name string }

func (s *deleteLinkStep) String() string    { return "delete link" }
func (s *deleteLinkStep) do(k kernel) error { return k.DeleteLink(s.name) }
func (s *deleteLinkStep) undo(kernel) error { return nil } // Down does not roll back

type configureDeviceStep struct {
	name string
	cfg  wgtypes.Config
	old  *wgtypes.Device // nil for a new device
}

func (s *configureDeviceStep) String() string    { return "set " + describeDevice(s.name, &s.cfg, s.old) }
func (s *configureDeviceStep) do(k kernel) error { return k.ConfigureDevice(s.name, s.cfg) }

func (s *configureDeviceStep) undo(k kernel) error {
	if s.old == nil {
		return nil // the new link goes away with createLinkStep's undo
	}
	return k.ConfigureDevice(s.name, restoreConfig(s.old))
}

type setMTUStep struct {
	name     string
	mtu, old int
}

func (s *setMTUStep) String() string      { return fmt.Sprintf("set link mtu %d", s.mtu) }
func (s *setMTUStep) do(k kernel) error   { return k.SetMTU(s.name, s.mtu) }
func (s *setMTUStep) undo(k kernel) error { return k.SetMTU(s.name, s.old) }

type setUpStep struct{ name string }

func (s *setUpStep) String() string      { return "set link up" }
func (s *setUpStep) do(k kernel) error   { return k.SetUp(s.name) }
func (s *setUpStep) undo(k kernel) error { return k.SetDown(s.name) }

type addAddressStep struct {
	name string
	addr netip.Prefix
}

func (s *addAddressStep) String() string      { return "add " + linuxnet.Address(s.addr).String() }
func (s *addAddressStep) do(k kernel) error   { return k.AddAddress(s.name, s.addr) }
func (s *addAddressStep) undo(k kernel) error { return k.DelAddress(s.name, s.addr) }

type delAddressStep addAddressStep

func (s *delAddressStep) String() string      { return "delete " + linuxnet.Address(s.addr).String() }
func (s *delAddressStep) do(k kernel) error   { return (*addAddressStep)(s).undo(k) }
func (s *delAddressStep) undo(k kernel) error { return (*addAddressStep)(s).do(k) }

type addRouteStep struct {
	name  string // the tunnel's link
	route linuxnet.Route
}

func (s *addRouteStep) String() string      { return "add " + s.route.String() }
func (s *addRouteStep) do(k kernel) error   { return k.AddRoute(s.name, s.route) }
func (s *addRouteStep) undo(k kernel) error { return k.DelRoute(s.name, s.route) }

type delRouteStep addRouteStep

func (s *delRouteStep) String() string      { return "delete " + s.route.String() }
func (s *delRouteStep) do(k kernel) error   { return (*addRouteStep)(s).undo(k) }
func (s *delRouteStep) undo(k kernel) error { return (*addRouteStep)(s).do(k) }

type addRuleStep struct{ rule rule }

func (s *addRuleStep) String() string      { return "add " + s.rule.String() }
func (s *addRuleStep) do(k kernel) error   { return k.AddRule(*s.rule.netlink()) }
func (s *addRuleStep) undo(k kernel) error { return k.DelRule(*s.rule.netlink()) }

type delRuleStep struct{ rule ownedRule }

func (s *delRuleStep) String() string {
	if s.rule.ok {
		return "delete " + s.rule.spec.String()
	}
	return fmt.Sprintf("delete rule %d (%s)", s.rule.raw.Priority, s.rule.raw)
}
func (s *delRuleStep) do(k kernel) error   { return k.DelRule(s.rule.raw) }
func (s *delRuleStep) undo(k kernel) error { return k.AddRule(s.rule.raw) }
