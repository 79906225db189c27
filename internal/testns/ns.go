package testns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/state"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/nsdo"
)

// NS is a named network namespace made for one test.
type NS struct {
	Name   string         // e.g. "wgt-a-1a2b3c": a prefix, the label and random hex
	Path   string         // "/run/netns/<Name>", for APIs that take a path
	Handle netns.NsHandle // open file descriptor of the namespace

	nl     *netlink.Handle
	delete func() // closes the handles and deletes the namespace, once
}

// New creates a fresh named network namespace and brings its loopback link
// up. IPv6 duplicate address detection is turned off in it, so that addresses
// are usable (and dumps stable) at once. label is a short word used in the
// name ("a", "b", "router"). t.Cleanup closes the handles and deletes the
// namespace, unless [NS.Delete] did already. New skips t as [RequireRoot]
// does.
func New(t TB, label string) *NS {
	t.Helper()
	requireRoot(t)
	suffix := make([]byte, 3)
	rand.Read(suffix)
	n := &NS{Name: "wgt-" + label + "-" + hex.EncodeToString(suffix)}
	n.Path = filepath.Join("/run/netns", n.Name)
	err := nsdo.Do(startNS, func() (err error) { // NewNamed moves the thread into the new namespace
		n.Handle, err = netns.NewNamed(n.Name)
		return err
	})
	if err != nil {
		t.Fatalf("create network namespace %s: %v", n.Name, err)
	}
	n.delete = sync.OnceFunc(func() {
		state := n.StateDir()
		if n.nl != nil {
			n.nl.Close()
		}
		n.Handle.Close()
		if err := netns.DeleteNamed(n.Name); err != nil {
			t.Errorf("delete network namespace %s: %v", n.Name, err)
		}
		// The library's locks and records of tunnels a test left up
		// go with their namespace, as a reboot takes both.
		if state != "" {
			os.RemoveAll(state)
		}
	})
	t.Cleanup(n.delete)
	if n.nl, err = netlink.NewHandleAt(n.Handle); err != nil {
		t.Fatalf("open netlink handle in %s: %v", n.Name, err)
	}
	for _, err := range []error{
		n.sysctl("net/ipv6/conf/all/accept_dad", "0"),
		n.sysctl("net/ipv6/conf/default/accept_dad", "0"),
		n.linkUp("lo"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// StateDir is the directory where the library keeps the locks and records
// of the namespace's tunnels (state.DirOf), or "" when it cannot be
// named.
func (n *NS) StateDir() string {
	dir, err := state.DirOf(namespace.NS{Handle: n.Handle})
	if err != nil {
		return ""
	}
	return dir
}

// Delete closes the handles and deletes the namespace now, rather than at
// cleanup: for a program that makes many namespaces in one [Session].
func (n *NS) Delete() { n.delete() }

// Do runs fn on a fresh goroutine locked to an OS thread that is switched
// into the namespace, waits for it and returns fn's error. Sockets and files
// fn opens belong to the namespace; /proc/sys/net is the namespace's. The
// thread is switched back before it is unlocked; if that fails, the thread
// stays locked and Go discards it when the goroutine exits.
func (n *NS) Do(fn func() error) error { return nsdo.Do(n.Handle, fn) }

// String returns "network namespace NAME".
func (n *NS) String() string { return "network namespace " + n.Name }

// Netlink returns the netlink handle bound to the namespace, closed at
// cleanup.
func (n *NS) Netlink() *netlink.Handle { return n.nl }

// sysctl writes value to /proc/sys/key as seen from inside the namespace.
func (n *NS) sysctl(key, value string) error {
	err := n.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("set %s=%s in %s: %w", key, value, n.Name, err)
	}
	return nil
}

// linkUp sets the link named dev up.
func (n *NS) linkUp(dev string) error {
	l, err := n.nl.LinkByName(dev)
	if err == nil {
		err = n.nl.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("set %s up in %s: %w", dev, n.Name, err)
	}
	return nil
}
