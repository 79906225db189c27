package transparent

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// kernelBackend manages a kernel WireGuard link ("ip link add wg0 type
// wireguard"). The link outlives the process; Down removes it.
type kernelBackend struct {
	h *netlink.Handle
}

func (k *kernelBackend) kind() Backend { return BackendKernel }

func (k *kernelBackend) create(name string, mtu int) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.MTU = mtu
	if err := k.h.LinkAdd(&netlink.Wireguard{LinkAttrs: attrs}); err != nil {
		return fmt.Errorf("add wireguard link: %w", err)
	}
	return nil
}

func (k *kernelBackend) linkUp() error { return nil }

func (k *kernelBackend) owns(l netlink.Link) bool { return l.Type() == "wireguard" }

func (k *kernelBackend) remove(l netlink.Link) error { return k.h.LinkDel(l) }

func (k *kernelBackend) close() error { return nil }
