//go:build linux

package wgdevice

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/namespace"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// Embedded runs an embedded wireguard-go device in this process.
//
// wireguard-go opens its sockets in the namespace of whichever thread
// happens to run the call: the TUN device and its netlink listener when it
// is created, a UDP socket whenever the device comes up or its port
// changes (from its own goroutines), and an ioctl socket whenever it reads
// the MTU. nsTUN and nsBind run those calls inside the tunnel's namespace.
type Embedded struct {
	NS      namespace.NS
	NSID    string // the namespace's identity in the owner file (NamespaceID)
	Netlink *netlink.Handle
	Log     *slog.Logger

	dev   *device.Device // nil when not running
	sock  *uapiSocket    // the device's UAPI socket
	gone  chan struct{}  // closed once the device has stopped and its socket is gone
	log   *deviceLog     // the device's log, muted when it is closed
	index int            // link index of the TUN device
}

// Create makes the TUN link called name, marks it as ours, and starts
// the device with its UAPI socket; a device stopped before goes first.
func (u *Embedded) Create(name string, mtu int) error {
	// A device whose link someone deleted has stopped, or is stopping:
	// finish that first, so that closing its UAPI socket cannot remove
	// the new device's.
	if err := u.Close(); err != nil {
		u.Log.Debug("stop the embedded device whose link was deleted", "err", err)
	}
	var td tun.Device
	err := u.NS.Do(func() (err error) {
		td, err = tun.CreateTUN(name, mtu)
		return err
	})
	if err != nil {
		return fmt.Errorf("create TUN device: %w", err)
	}
	ntd := &nsTUN{Device: td, ns: u.NS}
	index, err := ntd.linkIndex(name)
	if err == nil {
		err = markOurs(u.Netlink, index)
	}
	if err != nil {
		td.Close()
		return err
	}
	dlog := &deviceLog{log: u.Log}
	dev := device.NewDevice(ntd, &nsBind{Bind: conn.NewDefaultBind(), ns: u.NS}, dlog.logger(name))
	sock := &uapiSocket{name: name, dev: dev}
	if err := sock.serve(); err != nil {
		dev.Close()
		dlog.mute()
		return err
	}
	pid := os.Getpid()
	if err := writeOwner(name, owner{PID: pid, NetNS: u.NSID, Path: u.NS.Path, Index: index}); err != nil {
		sock.close()
		dev.Close()
		dlog.mute()
		return err
	}
	gone := make(chan struct{})
	go func() {
		// The device stops on Down or Close, or when another process
		// deletes its link: stop serving its socket then too.
		<-dev.Wait()
		sock.close()
		removeOwner(name, pid, index)
		close(gone)
	}()
	u.sock, u.log = sock, dlog
	u.dev, u.gone, u.index = dev, gone, index
	return nil
}

// LinkUp brings the device up now rather than waiting for wireguard-go to
// notice the link state, so that a failure to bind the listen port is
// returned instead of only logged.
func (u *Embedded) LinkUp() error {
	if u.dev == nil {
		return nil
	}
	if err := u.dev.Up(); err != nil {
		return fmt.Errorf("bring up embedded device: %w", err)
	}
	return nil
}

// Done returns a channel closed when the device has stopped and its UAPI
// socket is gone, or nil when none runs.
func (u *Embedded) Done() <-chan struct{} {
	if u.dev == nil {
		return nil
	}
	return u.gone
}

// Owns reports whether l is the link of the device this Embedded runs.
func (u *Embedded) Owns(l netlink.Link) bool {
	return u.dev != nil && l.Type() == "tuntap" && l.Attrs().Index == u.index
}

// Close stops the device; closing its TUN file removes the link.
func (u *Embedded) Close() error {
	if u.dev == nil {
		return nil
	}
	err := u.sock.close()
	u.dev.Close()
	u.log.mute()
	removeOwner(u.sock.name, os.Getpid(), u.index)
	u.dev, u.sock, u.log, u.gone, u.index = nil, nil, nil, nil, 0
	return err
}

// RepairSocket serves the device's UAPI socket again when someone
// deleted its file; nil when no device runs.
func (u *Embedded) RepairSocket() error {
	if u.dev == nil || u.sock == nil {
		return nil
	}
	return u.sock.serveAgain()
}

// LinkIndex is the link index of the running device, or 0.
func (u *Embedded) LinkIndex() int {
	if u.dev == nil {
		return 0
	}
	return u.index
}

// Remote is our embedded device run by another process (such as
// a foreground `wg-transparent up`): its TUN link carries our alias, and
// its settings are reached through its UAPI socket, like any embedded
// device's. This process can change its addresses, routes, rules and
// settings, and remove its link, which stops the device; it cannot create
// one.
type Remote struct {
	Netlink *netlink.Handle
}

// Remove deletes the link, which stops the other process's device, and
// waits (at most remoteStopWait) until that device no longer serves its
// UAPI socket: an Up right after Down, from any process, then finds the
// name free.
func (r *Remote) Remove(l netlink.Link) error {
	if err := r.Netlink.LinkDel(l); err != nil {
		return err
	}
	path := uapiPath(l.Attrs().Name)
	for deadline := time.Now().Add(remoteStopWait); time.Now().Before(deadline); time.Sleep(remoteStopPoll) {
		c, err := net.Dial("unix", path)
		if err != nil {
			return nil
		}
		c.Close()
	}
	return nil // still answering: its process is busy; the next Up reports it
}

// remoteStopWait bounds how long Down waits for another process's
// embedded device to stop once its link is gone; wireguard-go notices the
// link's removal within milliseconds. remoteStopPoll is how often it
// looks.
const (
	remoteStopWait = 2 * time.Second
	remoteStopPoll = 5 * time.Millisecond
)

// uapiPath is the UAPI socket of the embedded device name.
func uapiPath(name string) string { return filepath.Join("/var/run/wireguard", name+".sock") }

// nsTUN is a TUN device whose MTU lookups (an ioctl on a fresh socket,
// which resolves the interface name in the caller's namespace) run in the
// tunnel's namespace.
type nsTUN struct {
	tun.Device
	ns namespace.NS
}

func (d *nsTUN) MTU() (mtu int, err error) {
	err = d.ns.Do(func() error {
		mtu, err = d.Device.MTU()
		return err
	})
	return mtu, err
}

func (d *nsTUN) linkIndex(name string) (int, error) {
	var index int
	err := d.ns.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("look up TUN device %s: %w", name, err)
		}
		index = ifi.Index
		return nil
	})
	return index, err
}

// nsBind opens the device's UDP sockets in the tunnel's namespace, whatever
// goroutine wireguard-go calls Open from.
type nsBind struct {
	conn.Bind
	ns namespace.NS
}

func (b *nsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = b.ns.Do(func() error {
		fns, actual, err = b.Bind.Open(port)
		return err
	})
	return fns, actual, err
}

// RemoveStaleSocket removes the UAPI socket of an embedded device named
// name that died with its process (SIGKILL leaves the file): nobody
// answers on it, and no link of that name exists. Such a file would make
// `wg show` and wgctrl report a device that is gone.
func RemoveStaleSocket(name string) error {
	removeStaleOwner(name)
	path := uapiPath(name)
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return nil // alive: someone serves it
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return nil // no such file, or not ours to judge
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale UAPI socket %s: %w", path, err)
	}
	return nil
}
