//go:build linux

package transparent

import (
	"errors"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// errInjected is the failure faultKernel injects.
var errInjected = errors.New("injected failure")

// faultKernel wraps a Tunnel's kernel for tests: it counts the writes
// made through it (the firewall's included), fails the failAt-th one
// without making it, pauses for delay before each, and calls after, when
// set, after each write made. Reads pass through.
type faultKernel struct {
	kernel
	failAt int // 0: none fails
	delay  time.Duration
	writes int
	after  func(what string)
}

// write runs one write, as the hooks say.
func (f *faultKernel) write(what string, fn func() error) error {
	time.Sleep(f.delay)
	f.writes++
	if f.writes == f.failAt {
		return errInjected
	}
	if err := fn(); err != nil {
		return err
	}
	if f.after != nil {
		f.after(what)
	}
	return nil
}

func (f *faultKernel) CreateLink(name string, mtu int, embedded bool) error {
	return f.write("create link", func() error { return f.kernel.CreateLink(name, mtu, embedded) })
}
func (f *faultKernel) DeleteLink(name string) error {
	return f.write("delete link", func() error { return f.kernel.DeleteLink(name) })
}
func (f *faultKernel) SetMTU(name string, mtu int) error {
	return f.write("set mtu", func() error { return f.kernel.SetMTU(name, mtu) })
}
func (f *faultKernel) SetUp(name string) error {
	return f.write("set up", func() error { return f.kernel.SetUp(name) })
}
func (f *faultKernel) SetDown(name string) error {
	return f.write("set down", func() error { return f.kernel.SetDown(name) })
}
func (f *faultKernel) AddAddress(name string, a netip.Prefix) error {
	return f.write("add "+a.String(), func() error { return f.kernel.AddAddress(name, a) })
}
func (f *faultKernel) DelAddress(name string, a netip.Prefix) error {
	return f.write("delete "+a.String(), func() error { return f.kernel.DelAddress(name, a) })
}
func (f *faultKernel) AddRoute(name string, r linuxnet.Route) error {
	return f.write("add "+r.String(), func() error { return f.kernel.AddRoute(name, r) })
}
func (f *faultKernel) DelRoute(name string, r linuxnet.Route) error {
	return f.write("delete "+r.String(), func() error { return f.kernel.DelRoute(name, r) })
}
func (f *faultKernel) AddRule(r netlink.Rule) error {
	return f.write("add "+r.String(), func() error { return f.kernel.AddRule(r) })
}
func (f *faultKernel) DelRule(r netlink.Rule) error {
	return f.write("delete "+r.String(), func() error { return f.kernel.DelRule(r) })
}
func (f *faultKernel) ConfigureDevice(name string, cfg wgtypes.Config) error {
	return f.write("configure device", func() error { return f.kernel.ConfigureDevice(name, cfg) })
}

func (f *faultKernel) Firewall(want netfilter.Want) (netfilter.Driver, error) {
	fw, err := f.kernel.Firewall(want)
	if err != nil {
		return nil, err
	}
	return &faultFirewall{Driver: fw, f: f}, nil
}

func (f *faultKernel) FirewallOfKind(kind string) (netfilter.Driver, error) {
	fw, err := f.kernel.FirewallOfKind(kind)
	if err != nil {
		return nil, err
	}
	return &faultFirewall{Driver: fw, f: f}, nil
}

// faultFirewall counts and fails the writes of a firewall as its
// faultKernel does.
type faultFirewall struct {
	netfilter.Driver
	f *faultKernel
}

// observe reads through the wrapped firewall; the state names this one,
// so that the steps made from it write through it.
func (w *faultFirewall) ReadChain(family int, name string) (netfilter.ChainState, error) {
	s, err := w.Driver.ReadChain(family, name)
	s.Driver = w
	return s, err
}

// Adopt and Created pass an iptables firewall's tables and chains on.
func (w *faultFirewall) Adopt(created []string) {
	if a, ok := w.Driver.(netfilter.Adopter); ok {
		a.Adopt(created)
	}
}

func (w *faultFirewall) Prune(family int, hooks []string, table bool) error {
	a, ok := w.Driver.(netfilter.Adopter)
	if !ok {
		return nil
	}
	return w.f.write("prune nat", func() error { return a.Prune(family, hooks, table) })
}

func (w *faultFirewall) Created() []string {
	if a, ok := w.Driver.(netfilter.Adopter); ok {
		return a.Created()
	}
	return nil
}

func (w *faultFirewall) SetChain(family int, name string, rules []netfilter.NATRule) error {
	return w.f.write("set chain", func() error { return w.Driver.SetChain(family, name, rules) })
}
func (w *faultFirewall) DeleteChain(family int, name string) error {
	return w.f.write("delete chain", func() error { return w.Driver.DeleteChain(family, name) })
}
func (w *faultFirewall) AddJump(family int, name, hook string) error {
	return w.f.write("add jump", func() error { return w.Driver.AddJump(family, name, hook) })
}
func (w *faultFirewall) DelJump(family int, name, hook string) error {
	return w.f.write("delete jump", func() error { return w.Driver.DelJump(family, name, hook) })
}

// batchingFaultKernel is a faultKernel over a kernel that writes routes in
// batches: a batch is written as the kernel would, every route of it, but
// the failAt-th write fails unmade.
type batchingFaultKernel struct {
	*faultKernel
	b routeBatcher
}

func (f *batchingFaultKernel) AddRoutes(name string, rs []linuxnet.Route) []error {
	return f.batch(rs, func(rs []linuxnet.Route) []error { return f.b.AddRoutes(name, rs) })
}

func (f *batchingFaultKernel) DelRoutes(name string, rs []linuxnet.Route) []error {
	return f.batch(rs, func(rs []linuxnet.Route) []error { return f.b.DelRoutes(name, rs) })
}

func (f *batchingFaultKernel) batch(rs []linuxnet.Route, write func([]linuxnet.Route) []error) []error {
	time.Sleep(f.delay)
	first := f.writes + 1
	f.writes += len(rs)
	at := f.failAt - first // the index of the failing route, if in rs
	if f.failAt == 0 || at < 0 || at >= len(rs) {
		return write(rs)
	}
	errs := append(write(rs[:at]), errInjected)
	return append(errs, write(rs[at+1:])...)
}

// wrapFaults makes t's kernel a faultKernel, or returns the one it is.
// A delay makes every write go on its own, batching none.
func wrapFaults(t *Tunnel, delay time.Duration) *faultKernel {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch k := t.k.(type) {
	case *faultKernel:
		return k
	case *batchingFaultKernel:
		return k.faultKernel
	}
	f := &faultKernel{kernel: t.k, delay: delay}
	if b, ok := t.k.(routeBatcher); ok && delay == 0 {
		t.k = &batchingFaultKernel{faultKernel: f, b: b}
	} else {
		t.k = f
	}
	return f
}
