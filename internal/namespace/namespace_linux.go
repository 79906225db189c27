//go:build linux

package namespace

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/nsdo"
)

// NS is the network namespace a tunnel works in.
//
// Netlink requests go through a handle bound to it, which needs no thread
// switching. Everything that opens a socket or a device in "the current
// namespace" (the wgctrl client, the TUN device, the embedded device's UDP
// sockets, iptables processes) runs inside Do.
//
// Entering a namespace (setns) needs CAP_SYS_ADMIN. A tunnel in the
// namespace the process is in (here: no WithNetNS) never enters one, so
// that CAP_NET_ADMIN alone is enough for it.
type NS struct {
	Handle netns.NsHandle
	Path   string // as Open was given it; "" for the calling thread's
	here   bool   // the process's own namespace: nothing switches threads
}

// Open opens the namespace at path, or, for "", the calling thread's.
func Open(path string) (NS, error) {
	var h netns.NsHandle
	var err error
	if path != "" {
		h, err = netns.GetFromPath(path)
	} else {
		h, err = netns.Get()
	}
	if err != nil {
		return NS{}, fmt.Errorf("open network namespace %q: %w", path, err)
	}
	here, err := nsdo.Here(h)
	if err != nil {
		h.Close()
		return NS{}, fmt.Errorf("open network namespace %q: %w", path, err)
	}
	return NS{Handle: h, Path: path, here: here}, nil
}

// Do runs fn on a thread in the namespace; see nsdo.Do.
func (n NS) Do(fn func() error) error { return nsdo.Do(n.Handle, fn) }

// Netlink opens a netlink handle bound to the namespace: made in place
// when the namespace is the process's own, else by entering it.
func (n NS) Netlink() (*netlink.Handle, error) {
	if n.here {
		return netlink.NewHandle()
	}
	return netlink.NewHandleAt(n.Handle)
}

// NFTOptions bind an nf_tables connection to the namespace; in the
// process's own namespace none is needed (nor the setns it costs).
func (n NS) NFTOptions() []nftables.ConnOption {
	if n.here {
		return nil
	}
	return []nftables.ConnOption{nftables.WithNetNSFd(int(n.Handle))}
}
