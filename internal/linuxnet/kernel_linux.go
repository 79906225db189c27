//go:build linux

package linuxnet

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
	"strings"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"github.com/wgtransparent/transparent/internal/state"
	"github.com/wgtransparent/transparent/internal/wgdevice"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Kernel is the real kernel of the tunnel's namespace: netlink through
// a handle bound to it, wgctrl and the embedded device made inside it,
// and the firewalls.
//
// Kernel implements the root package's kernel interface, where its
// methods are documented.
type Kernel struct {
	ns  namespace.NS
	nl  *netlink.Handle
	log *slog.Logger
	wg  *wgctrl.Client     // made on first use, inside ns
	dev *wgdevice.Embedded // the embedded device this Tunnel runs, if any
	// nsID identifies the namespace in embedded devices' owner files
	// (wgdevice.NamespaceID); found on first use.
	nsID string
	fws  map[string]netfilter.Driver // opened firewalls by kind

	dumpBuf   []byte          // the route dump's receive buffer; operations are serialized
	dumpSizes map[dumpKey]int // the routes each table had at its last dump
}

// New opens the kernel of the namespace ns, which it then owns:
// close closes ns too.
func New(ns namespace.NS, log *slog.Logger) (*Kernel, error) {
	nl, err := ns.Netlink()
	if err != nil {
		return nil, err
	}
	return &Kernel{ns: ns, nl: nl, log: log}, nil
}

func (k *Kernel) Close() error {
	var errs []error
	if k.dev != nil {
		errs = append(errs, k.dev.Close())
	}
	if k.wg != nil {
		errs = append(errs, k.wg.Close())
	}
	k.nl.Close()
	return errors.Join(append(errs, k.ns.Handle.Close())...)
}

func (k *Kernel) InNamespace(fn func() error) error { return k.ns.Do(fn) }

// Subscribe listens to the rtnetlink groups whose changes can undo the
// tunnel, with a socket made inside the namespace. A receive error ends
// the subscription: it is sent on lost (ENOBUFS when the kernel dropped
// notifications that overflowed the socket's buffer; a closed socket
// after stop), and nothing more is reported.
func (k *Kernel) Subscribe() (changes <-chan struct{}, lost <-chan error, stop func(), err error) {
	return k.subscribe(unix.NETLINK_ROUTE, watchGroups...)
}

// SubscribeFirewall listens to the nf_tables group, as Subscribe does to
// rtnetlink's: every change to a table, chain, rule or set, whether made
// through nf_tables or by iptables-nft.
func (k *Kernel) SubscribeFirewall() (changes <-chan struct{}, lost <-chan error, stop func(), err error) {
	return k.subscribe(unix.NETLINK_NETFILTER, unix.NFNLGRP_NFTABLES)
}

// subscribe joins the groups of a netlink protocol for Subscribe and
// SubscribeFirewall.
func (k *Kernel) subscribe(protocol int, groups ...uint) (changes <-chan struct{}, lost <-chan error, stop func(), err error) {
	var sock *nl.NetlinkSocket
	err = k.ns.Do(func() (err error) {
		sock, err = nl.Subscribe(protocol, groups...)
		return err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	changed := make(chan struct{}, 1)
	failed := make(chan error, 1) // one send, then the goroutine ends
	go func() {
		for {
			if _, _, err := sock.Receive(); err != nil {
				failed <- err
				return
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	return changed, failed, sock.Close, nil
}

// watchGroups are the rtnetlink groups whose changes can undo the tunnel.
var watchGroups = []uint{
	unix.RTNLGRP_LINK,
	unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
	unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE,
	unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE,
}

func (k *Kernel) StopEmbedded() error {
	if k.dev == nil {
		return nil
	}
	return k.dev.Close()
}

func (k *Kernel) RemoveStaleSocket(name string) error { return wgdevice.RemoveStaleSocket(name) }

func (k *Kernel) EmbeddedDone() <-chan struct{} {
	if k.dev == nil {
		return nil
	}
	return k.dev.Done()
}

func infoOf(l netlink.Link) *Link {
	a := l.Attrs()
	return &Link{Name: a.Name, Index: a.Index, Kind: l.Type(), MTU: a.MTU, Up: a.Flags&net.FlagUp != 0, Ours: wgdevice.IsOurs(l)}
}

func (k *Kernel) Link(name string) (*Link, error) {
	l, err := k.nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return infoOf(l), nil
}

func (k *Kernel) LinkByIndex(index int) (*Link, error) {
	l, err := k.nl.LinkByIndex(index)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %d: %w", index, err)
	}
	return infoOf(l), nil
}

func (k *Kernel) Addresses(index int) ([]netip.Prefix, error) {
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: index}}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return k.nl.AddrList(link, unix.AF_UNSPEC) })
	if err != nil {
		return nil, fmt.Errorf("list addresses of link %d: %w", index, err)
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, inet.PrefixOf(a.IPNet))
	}
	return out, nil
}

func (k *Kernel) Rules(fam int) ([]netlink.Rule, error) {
	rules, err := retryDump(func() ([]netlink.Rule, error) { return k.nl.RuleList(fam) })
	if err != nil {
		return nil, fmt.Errorf("list %s rules: %w", inet.FamilyName(fam == unix.AF_INET6), err)
	}
	return rules, nil
}

func (k *Kernel) Routes(fam, table int) ([]KernelRoute, error) {
	routes, err := k.dumpRoutes(fam, table)
	if err != nil {
		return nil, fmt.Errorf("list %s routes in table %s: %w", inet.FamilyName(fam == unix.AF_INET6), inet.TableName(table), err)
	}
	return routes, nil
}

// EachRoute is Routes handing each route to fn as the dump is read,
// without holding the table whole. reset is called before each attempt,
// the first included: a dump that a change interrupts is read again
// from its start, so fn must forget what it was given since the last
// reset.
func (k *Kernel) EachRoute(fam, table int, reset func(), fn func(KernelRoute)) error {
	if err := k.eachRoute(fam, table, reset, fn); err != nil {
		return fmt.Errorf("list %s routes in table %s: %w", inet.FamilyName(fam == unix.AF_INET6), inet.TableName(table), err)
	}
	return nil
}

// wgClient returns the wgctrl client, made inside the namespace so that
// its generic netlink socket talks to that namespace's kernel devices.
func (k *Kernel) wgClient() (*wgctrl.Client, error) {
	if k.wg != nil {
		return k.wg, nil
	}
	err := k.ns.Do(func() (err error) {
		k.wg, err = wgctrl.New()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open wgctrl client: %w", err)
	}
	return k.wg, nil
}

// Device reads the device only when the link called name exists in the
// namespace: wgctrl would otherwise find an embedded device of that name
// in any namespace, through the UAPI socket all of them share. An
// embedded device's socket must serve this namespace's link
// (wgdevice.Serves).
func (k *Kernel) Device(name string) (*wgtypes.Device, error) {
	l, err := k.Link(name)
	if err != nil || l == nil {
		return nil, err
	}
	switch l.Kind {
	case "wireguard": // wgctrl asks the namespace's kernel first
	case "tuntap":
		if err := wgdevice.Serves(name, k.namespaceID(), l.Index); err != nil {
			return nil, err
		}
	default:
		return nil, nil // not a WireGuard device
	}
	wg, err := k.wgClient()
	if err != nil {
		return nil, err
	}
	var d *wgtypes.Device
	err = bounded(func() (err error) {
		d, err = wg.Device(name)
		return err
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read device %s: %w", name, err)
	}
	return d, nil
}

func (k *Kernel) ConfigureDevice(name string, cfg wgtypes.Config) error {
	wg, err := k.wgClient()
	if err != nil {
		return err
	}
	return wgdevice.UAPIErrno(bounded(func() error { return wg.ConfigureDevice(name, cfg) }))
}

// uapiWait bounds a read or change of a device through wgctrl, which sets
// no deadline: an embedded device's process that is stopped (SIGSTOP, a
// frozen cgroup) accepts the UAPI connection and never answers, and Up
// and Down must return all the same. Reading or setting 100000 allowed
// IPs takes 0.15 s (docs/BENCHMARKS.md), so a live device is far inside it.
const uapiWait = 10 * time.Second

// bounded runs f, a wgctrl call, and gives up after uapiWait. The
// call given up on goes on in its goroutine until the device answers or
// its process ends; its result is dropped.
func bounded(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(uapiWait)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("no answer from its UAPI socket within %s (is the process running an embedded device stopped?): %w", uapiWait, os.ErrDeadlineExceeded)
	}
}

// RepairEmbedded serves the UAPI socket of the embedded device this
// Tunnel runs again, when someone deleted its file: a process-local
// repair, before an Up.
func (k *Kernel) RepairEmbedded() error {
	if k.dev == nil {
		return nil
	}
	return k.dev.RepairSocket()
}

// FirewallCreated lists the nat tables and chains that this process's
// iptables-nft writes created and that still stand.
func (k *Kernel) FirewallCreated() []string {
	var made []string
	for _, fw := range k.fws {
		if a, ok := fw.(netfilter.Adopter); ok {
			made = append(made, a.Created()...)
		}
	}
	slices.Sort(made)
	return slices.Compact(made)
}

// EmbeddedIndex is the link index of the embedded device this process
// runs, 0 for none.
func (k *Kernel) EmbeddedIndex() int {
	if k.dev == nil {
		return 0
	}
	return k.dev.LinkIndex()
}

// HasKernelWireGuard asks generic netlink, inside the namespace, for the
// "wireguard" family. The lookup also loads the module on demand.
func (k *Kernel) HasKernelWireGuard() (bool, error) {
	var found bool
	err := k.ns.Do(func() error {
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
func (k *Kernel) Sysctl(key string) (string, error) {
	var b []byte
	err := k.ns.Do(func() (err error) {
		b, err = os.ReadFile(filepath.Join("/proc/sys", key))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", strings.ReplaceAll(key, "/", "."), err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func (k *Kernel) Firewall(want netfilter.Want) (netfilter.Driver, error) {
	fw, err := netfilter.Open(k.ns, want)
	if err != nil {
		return nil, err
	}
	return k.cacheFirewall(fw), nil
}

func (k *Kernel) FirewallOfKind(kind string) (netfilter.Driver, error) {
	if fw, ok := k.fws[kind]; ok {
		return fw, nil
	}
	fw, err := netfilter.OpenKind(k.ns, kind)
	if err != nil {
		return nil, err
	}
	return k.cacheFirewall(fw), nil
}

// cacheFirewall caches a firewall by kind, so that each is opened once.
func (k *Kernel) cacheFirewall(fw netfilter.Driver) netfilter.Driver {
	if old, ok := k.fws[fw.Kind()]; ok {
		return old
	}
	if k.fws == nil {
		k.fws = map[string]netfilter.Driver{}
	}
	k.fws[fw.Kind()] = fw
	return fw
}

func (k *Kernel) CreateLink(name string, mtu int, embedded bool) error {
	if !embedded {
		return (&wgdevice.Kernel{Netlink: k.nl}).Create(name, mtu)
	}
	if k.dev == nil {
		k.dev = &wgdevice.Embedded{NS: k.ns, NSID: k.namespaceID(), Netlink: k.nl, Log: k.log}
	}
	return k.dev.Create(name, mtu)
}

func (k *Kernel) DeleteLink(name string) error {
	l, err := k.nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	switch {
	case k.dev != nil && k.dev.Owns(l):
		err = k.dev.Close()
	case l.Type() == "tuntap":
		err = (&wgdevice.Remote{Netlink: k.nl}).Remove(l)
	default:
		err = k.nl.LinkDel(l)
	}
	return ignore(err, unix.ENODEV)
}

// linkNamed looks up the tunnel's link for a write.
func (k *Kernel) linkNamed(name string) (netlink.Link, error) {
	l, err := k.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return l, nil
}

func (k *Kernel) SetMTU(name string, mtu int) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	return k.nl.LinkSetMTU(l, mtu)
}

func (k *Kernel) SetUp(name string) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	if err := k.nl.LinkSetUp(l); err != nil {
		return err
	}
	if k.dev != nil && k.dev.Owns(l) {
		return k.dev.LinkUp()
	}
	return nil
}

func (k *Kernel) SetDown(name string) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	return k.nl.LinkSetDown(l)
}

func (k *Kernel) AddAddress(name string, a netip.Prefix) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	err = ignore(k.nl.AddrAdd(l, Address(a).Netlink()), unix.EEXIST)
	if errors.Is(err, unix.EACCES) && a.Addr().Is6() {
		// The kernel's answer on a link whose IPv6 is disabled: no
		// question of privileges, so no longer matching os.ErrPermission.
		return fmt.Errorf("IPv6 is disabled on %s (%v): set the sysctls net.ipv6.conf.default.disable_ipv6 and net.ipv6.conf.all.disable_ipv6 to 0 (and boot without ipv6.disable=1), or remove the IPv6 addresses and prefixes from the config", name, err)
	}
	return err
}

func (k *Kernel) DelAddress(name string, a netip.Prefix) error {
	l, err := k.nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	return ignore(k.nl.AddrDel(l, Address(a).Netlink()), unix.EADDRNOTAVAIL, unix.ENODEV)
}

func (k *Kernel) AddRoute(name string, r Route) error {
	l, err := k.linkNamed(name)
	if err != nil {
		return err
	}
	return ignore(k.nl.RouteAdd(r.Netlink(l.Attrs().Index)), unix.EEXIST)
}

// DelRoute removes r through the link called name, or, when that link is
// gone, from any link: destination, table and protocol decide.
func (k *Kernel) DelRoute(name string, r Route) error {
	dev := 0
	if l, err := k.nl.LinkByName(name); err == nil {
		dev = l.Attrs().Index
	}
	return ignore(k.nl.RouteDel(r.Netlink(dev)), unix.ESRCH, unix.ENOENT)
}

func (k *Kernel) AddRule(r netlink.Rule) error { return ignore(k.nl.RuleAdd(&r), unix.EEXIST) }

func (k *Kernel) DelRule(r netlink.Rule) error {
	return ignore(k.nl.RuleDel(&r), unix.ENOENT, unix.ESRCH)
}

// namespaceID is the identity of the kernel's namespace in embedded
// devices' owner files.
func (k *Kernel) namespaceID() string {
	if k.nsID == "" {
		if dir, err := state.DirOf(k.ns); err == nil {
			k.nsID = wgdevice.NamespaceID(dir)
		}
	}
	return k.nsID
}

// UAPIClash returns a conflict error when an embedded device called name
// in this namespace would clash with one of another namespace, which
// serves the UAPI socket all namespaces share (wgdevice.Clash).
func (k *Kernel) UAPIClash(name string) error { return wgdevice.Clash(name, k.namespaceID()) }

// DeviceGone returns an error matching sentinel.ErrDeviceGone when this
// namespace's embedded device called name died with its process; the
// caller has found no link of that name.
func (k *Kernel) DeviceGone(name string) error { return wgdevice.Gone(name, k.namespaceID()) }
