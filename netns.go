//go:build linux

package transparent

import (
	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/nsdo"
)

// netNS is the network namespace a Tunnel works in.
//
// Netlink requests go through a handle bound to it (netlink.NewHandleAt),
// which needs no thread switching. Everything that opens a socket or a
// device in "the current namespace" (the wgctrl client, the TUN device, the
// embedded device's UDP sockets, iptables processes) runs inside do.
type netNS struct {
	handle netns.NsHandle
}

// do runs fn on a thread in the namespace; see nsdo.Do.
func (n netNS) do(fn func() error) error { return nsdo.Do(n.handle, fn) }
