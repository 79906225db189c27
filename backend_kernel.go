//go:build linux

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

// create makes the link in the group linkGroup, which the kernel sets as
// it creates the link, so that a link of ours is recognized even if the
// process dies before markOurs sets the alias (the kernel ignores an
// alias given at creation).
func (k *kernelBackend) create(name string, mtu int) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.MTU = mtu
	attrs.Group = linkGroup
	if err := k.h.LinkAdd(&netlink.Wireguard{LinkAttrs: attrs}); err != nil {
		return fmt.Errorf("add wireguard link: %w", err)
	}
	link, err := k.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("look up new wireguard link: %w", err) // its group marks it ours for Down
	}
	return markOurs(k.h, link.Attrs().Index)
}
