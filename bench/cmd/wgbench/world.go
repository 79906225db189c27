package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// world is one round's namespaces: A (measured) and B (its peer, running
// a plain tunnel with the library). Every round builds a fresh world and
// tears it down, so that rounds cannot influence each other.
type world struct {
	session *testns.Session
	a, b    *testns.NS
	tunB    *transparent.Tunnel
	events  *eventCounter
}

// newWorld builds A and B joined by a veth, brings B's tunnel up and
// starts counting A's netlink events. The namespace names carry
// "wgbench", testns's "wgt-" prefix and random hex.
func newWorld(ctx context.Context, k keys, nameB string) (w *world, err error) {
	w = &world{session: &testns.Session{}}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	// testns.New calls Fatal on a Session only for errors the kernel makes
	// when creating a namespace, which end the run anyway.
	w.a, w.b = testns.New(w.session, "wgbench-a"), testns.New(w.session, "wgbench-b")
	if err := w.link(); err != nil {
		return w, err
	}
	if w.tunB, err = transparent.New(configB(nameB, k), transparent.WithNetNS(w.b.Path)); err != nil {
		return w, fmt.Errorf("configure B's tunnel: %w", err)
	}
	if err := w.tunB.Up(ctx); err != nil {
		return w, fmt.Errorf("bring B's tunnel up: %w", err)
	}
	if w.events, err = countEvents(w.a); err != nil {
		return w, err
	}
	return w, nil
}

// link joins A's eth0 and B's eth0, addresses them and gives each a route
// to the other's subnet over the shared link.
func (w *world) link() error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(w.b.Handle)}
	if err := w.a.Netlink().LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth between %s and %s: %w", w.a.Name, w.b.Name, err)
	}
	for _, end := range []struct {
		ns         *testns.NS
		addr, peer netip.Prefix
	}{{w.a, addrA, addrB}, {w.b, addrB, addrA}} {
		h := end.ns.Netlink()
		l, err := h.LinkByName("eth0")
		if err != nil {
			return fmt.Errorf("find eth0 in %s: %w", end.ns.Name, err)
		}
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(end.addr)}); err != nil {
			return fmt.Errorf("address eth0 in %s: %w", end.ns.Name, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set eth0 up in %s: %w", end.ns.Name, err)
		}
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(end.peer.Masked()), Scope: netlink.SCOPE_LINK}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("route to %s in %s: %w", end.peer.Masked(), end.ns.Name, err)
		}
	}
	return nil
}

// close stops the event counter, brings B's tunnel down, kills what is
// left running inside A and B (a wireguard-go that wg-quick started, if a
// capped wg-quick was killed before it could delete its link) and deletes
// the namespaces.
func (w *world) close() {
	if w.events != nil {
		w.events.close()
	}
	if w.tunB != nil {
		w.tunB.Down(context.Background())
		w.tunB.Close()
	}
	for _, ns := range []*testns.NS{w.a, w.b} {
		if ns != nil {
			killInside(ns.Name)
		}
	}
	w.session.Close()
}

// killInside kills the processes whose network namespace is the named one
// (`ip netns pids`), by PID: only this program starts processes in its
// namespaces. It waits briefly for them to exit, so that their devices and
// sockets are gone before the namespace is deleted.
func killInside(name string) {
	for range 50 {
		out, err := exec.Command("ip", "netns", "pids", name).Output()
		pids := strings.Fields(string(out))
		if err != nil || len(pids) == 0 {
			return
		}
		for _, p := range pids {
			// Never this process: a goroutine locked into the namespace may
			// run on its main thread, which /proc shows as the process's.
			if pid, err := strconv.Atoi(p); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
