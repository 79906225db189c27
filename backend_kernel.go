package transparent

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// linkAlias is the alias (`ip link set wg0 alias ...`) that marks a kernel
// WireGuard link as made by this package, so that Up and Down never take
// over or delete a WireGuard link someone else made (wg-quick, say).
const linkAlias = "wgtransparent"

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
	// The kernel ignores IFLA_IFALIAS when it creates a link: set it after.
	link, err := k.h.LinkByName(name)
	if err == nil {
		err = k.h.LinkSetAlias(link, linkAlias)
	}
	if err != nil {
		if link != nil {
			err = errors.Join(err, k.h.LinkDel(link))
		}
		return fmt.Errorf("mark wireguard link as ours: %w", err)
	}
	return nil
}

func (k *kernelBackend) linkUp() error { return nil }

func (k *kernelBackend) owns(l netlink.Link) bool {
	return l.Type() == "wireguard" && l.Attrs().Alias == linkAlias
}

func (k *kernelBackend) remove(l netlink.Link) error { return k.h.LinkDel(l) }

func (k *kernelBackend) close() error { return nil }
