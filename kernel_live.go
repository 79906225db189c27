//go:build linux

package transparent

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mdlayher/genetlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// liveKernel is the real kernel of the tunnel's namespace: netlink through
// a handle bound to it, wgctrl and the embedded device made inside it,
// and the firewalls.
type liveKernel struct {
	ns  netNS
	nl  *netlink.Handle
	log *slog.Logger
	wg  *wgctrl.Client    // made on first use, inside ns
	dev *userspaceBackend // the embedded device this Tunnel runs, if any
	// nsID and nsPath identify the namespace in embedded devices' owner
	// files (uapi_owner.go): its state directory's name, and its path as
	// given ("" for this process's own).
	nsID, nsPath string
	fws          map[string]firewall // opened firewalls by kind

	dumpBuf   []byte          // routes_dump.go's receive buffer; operations are serialized
	dumpSizes map[dumpKey]int // the routes each table had at its last dump
}

func (k *liveKernel) close() error {
	var errs []error
	if k.dev != nil {
		errs = append(errs, k.dev.close())
	}
	if k.wg != nil {
		errs = append(errs, k.wg.Close())
	}
	k.nl.Close()
	return errors.Join(errs...)
}

func infoOf(l netlink.Link) *linkInfo {
	a := l.Attrs()
	return &linkInfo{name: a.Name, index: a.Index, kind: l.Type(), mtu: a.MTU, up: a.Flags&net.FlagUp != 0, ours: isOurs(l)}
}

func (k *liveKernel) link(name string) (*linkInfo, error) {
	l, err := k.nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return infoOf(l), nil
}

func (k *liveKernel) linkByIndex(index int) (*linkInfo, error) {
	l, err := k.nl.LinkByIndex(index)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %d: %w", index, err)
	}
	return infoOf(l), nil
}

func (k *liveKernel) addresses(index int) ([]netip.Prefix, error) {
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: index}}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return k.nl.AddrList(link, unix.AF_UNSPEC) })
	if err != nil {
		return nil, fmt.Errorf("list addresses of link %d: %w", index, err)
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, prefixOf(a.IPNet))
	}
	return out, nil
}

func (k *liveKernel) rules(fam int) ([]netlink.Rule, error) {
	rules, err := retryDump(func() ([]netlink.Rule, error) { return k.nl.RuleList(fam) })
	if err != nil {
		return nil, fmt.Errorf("list %s rules: %w", familyString(fam), err)
	}
	return rules, nil
}

func (k *liveKernel) routes(fam, table int) ([]kernelRoute, error) {
	routes, err := k.dumpRoutes(fam, table) // routes_dump.go
	if err != nil {
		return nil, fmt.Errorf("list %s routes in table %s: %w", familyString(fam), tableName(table), err)
	}
	return routes, nil
}

// wgClient returns the wgctrl client, made inside the namespace so that
// its generic netlink socket talks to that namespace's kernel devices.
func (k *liveKernel) wgClient() (*wgctrl.Client, error) {
	if k.wg != nil {
		return k.wg, nil
	}
	err := k.ns.do(func() (err error) {
		k.wg, err = wgctrl.New()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open wgctrl client: %w", err)
	}
	return k.wg, nil
}

// device reads the device only when the link called name exists in the
// namespace: wgctrl would otherwise find an embedded device of that name
// in any namespace, through the UAPI socket all of them share. An
// embedded device's socket must serve this namespace's link (uapiServes).
func (k *liveKernel) device(name string) (*wgtypes.Device, error) {
	l, err := k.link(name)
	if err != nil || l == nil {
		return nil, err
	}
	switch l.kind {
	case "wireguard": // wgctrl asks the namespace's kernel first
	case "tuntap":
		if err := k.uapiServes(name, l.index); err != nil {
			return nil, err
		}
	default:
		return nil, nil // not a WireGuard device
	}
	wg, err := k.wgClient()
	if err != nil {
		return nil, err
	}
	d, err := wg.Device(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read device %s: %w", name, err)
	}
	return d, nil
}

func (k *liveKernel) configureDevice(name string, cfg wgtypes.Config) error {
	wg, err := k.wgClient()
	if err != nil {
		return err
	}
	return uapiErrno(wg.ConfigureDevice(name, cfg))
}

// serveAgain serves the UAPI socket of the embedded device this Tunnel
// runs again, when someone deleted its file (uapi.go): a process-local
// repair, before an Up.
func (k *liveKernel) serveAgain() error {
	if k.dev == nil || k.dev.dev == nil || k.dev.sock == nil {
		return nil
	}
	return k.dev.sock.serveAgain()
}

// created lists the nat tables and chains that this process's iptables-nft
// writes created and that still stand (firewall_iptables_nft.go).
func (k *liveKernel) created() []string {
	var made []string
	for _, fw := range k.fws {
		if ipt, ok := fw.(*iptablesFirewall); ok {
			made = append(made, ipt.created()...)
		}
	}
	slices.Sort(made)
	return slices.Compact(made)
}

func (k *liveKernel) embedded() int {
	if k.dev == nil || k.dev.dev == nil {
		return 0
	}
	return k.dev.index
}

// hasKernelWireGuard asks generic netlink, inside the namespace, for the
// "wireguard" family. The lookup also loads the module on demand.
func (k *liveKernel) hasKernelWireGuard() (bool, error) {
	var found bool
	err := k.ns.do(func() error {
		c, err := genetlink.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.GetFamily("wireguard")
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("look for kernel WireGuard: %w", err)
	}
	return found, nil
}

// sysctl reads /proc/sys inside the namespace, where the network sysctls
// are the namespace's own.
func (k *liveKernel) sysctl(key string) (string, error) {
	var b []byte
	err := k.ns.do(func() (err error) {
		b, err = os.ReadFile(filepath.Join("/proc/sys", key))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", strings.ReplaceAll(key, "/", "."), err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func (k *liveKernel) firewall(want Firewall) (firewall, error) {
	fw, err := newFirewall(k.ns, want)
	if err != nil {
		return nil, err
	}
	return k.keep(fw), nil
}

func (k *liveKernel) firewallOfKind(kind string) (firewall, error) {
	if fw, ok := k.fws[kind]; ok {
		return fw, nil
	}
	fw, err := firewallOfKind(k.ns, kind)
	if err != nil {
		return nil, err
	}
	return k.keep(fw), nil
}

// keep caches a firewall by kind, so that each is opened once.
func (k *liveKernel) keep(fw firewall) firewall {
	if old, ok := k.fws[fw.kind()]; ok {
		return old
	}
	if k.fws == nil {
		k.fws = map[string]firewall{}
	}
	k.fws[fw.kind()] = fw
	return fw
}

func (k *liveKernel) createLink(name string, mtu int, b Backend) error {
	if b == BackendKernel {
		return (&kernelBackend{h: k.nl}).create(name, mtu)
	}
	if k.dev == nil {
		k.dev = &userspaceBackend{ns: k.ns, h: k.nl, log: k.log, nsID: k.namespaceID(), nsPath: k.nsPath}
	}
	return k.dev.create(name, mtu)
}

func (k *liveKernel) deleteLink(name string) error {
	l, err := k.nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	switch {
	case k.dev != nil && k.dev.owns(l):
		err = k.dev.close()
	case l.Type() == "tuntap":
		err = (&remoteUserspace{h: k.nl}).remove(l)
	default:
		err = k.nl.LinkDel(l)
	}
	return ignore(err, unix.ENODEV)
}

// linkNamed looks up the tunnel's link for a write.
func (k *liveKernel) linkNamed(name string) (netlink.Link, error) {
	l, err := k.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return l, nil
}

func (k *liveKernel) setMTU(name string, mtu int) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	return k.nl.LinkSetMTU(l, mtu)
}

func (k *liveKernel) setUp(name string) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	if err := k.nl.LinkSetUp(l); err != nil {
		return err
	}
	if k.dev != nil && k.dev.owns(l) {
		return k.dev.linkUp()
	}
	return nil
}

func (k *liveKernel) setDown(name string) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	return k.nl.LinkSetDown(l)
}

func (k *liveKernel) addAddress(name string, a netip.Prefix) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	err = ignore(k.nl.AddrAdd(l, address(a).netlink()), unix.EEXIST)
	if errors.Is(err, unix.EACCES) && a.Addr().Is6() {
		// The kernel's answer on a link whose IPv6 is disabled: no
		// question of privileges, so no longer matching os.ErrPermission.
		return fmt.Errorf("IPv6 is disabled on %s (%v): set the sysctls net.ipv6.conf.default.disable_ipv6 and net.ipv6.conf.all.disable_ipv6 to 0 (and boot without ipv6.disable=1), or remove the IPv6 addresses and prefixes from the config", name, err)
	}
	return err
}

func (k *liveKernel) delAddress(name string, a netip.Prefix) error {
	l, err := k.nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	return ignore(k.nl.AddrDel(l, address(a).netlink()), unix.EADDRNOTAVAIL, unix.ENODEV)
}

func (k *liveKernel) addRoute(name string, r route) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	return ignore(k.nl.RouteAdd(r.netlink(l.Attrs().Index)), unix.EEXIST)
}

// delRoute removes r through the link called name, or, when that link is
// gone, from any link: destination, table and protocol decide.
func (k *liveKernel) delRoute(name string, r route) error {
	dev := 0
	if l, err := k.nl.LinkByName(name); err == nil {
		dev = l.Attrs().Index
	}
	return ignore(k.nl.RouteDel(r.netlink(dev)), unix.ESRCH, unix.ENOENT)
}

func (k *liveKernel) addRule(r netlink.Rule) error { return ignore(k.nl.RuleAdd(&r), unix.EEXIST) }

func (k *liveKernel) delRule(r netlink.Rule) error {
	return ignore(k.nl.RuleDel(&r), unix.ENOENT, unix.ESRCH)
}

// uapiErrno makes an embedded device's error readable: wgctrl reports it as
// "wguser: errno=-98"; this adds the errno itself ("address already in
// use"), which errors.Is can then match.
func uapiErrno(err error) error {
	if err == nil {
		return nil
	}
	_, num, found := strings.Cut(err.Error(), "errno=")
	n, convErr := strconv.Atoi(strings.TrimSpace(num))
	if !found || convErr != nil || n == 0 {
		return err
	}
	return fmt.Errorf("%w: %w", err, unix.Errno(max(n, -n)))
}
