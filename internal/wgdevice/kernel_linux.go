//go:build linux

package wgdevice

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// Kernel manages a kernel WireGuard link ("ip link add wg0 type
// wireguard"). The link outlives the process; Down removes it.
type Kernel struct {
	Netlink *netlink.Handle
}

// Create makes the link in the group LinkGroup, which the kernel sets as
// it creates the link, so that a link of ours is recognized even if the
// process dies before markOurs sets the alias (the kernel ignores an
// alias given at creation).
func (k *Kernel) Create(name string, mtu int) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.MTU = mtu
	attrs.Group = LinkGroup
	if err := k.Netlink.LinkAdd(&netlink.Wireguard{LinkAttrs: attrs}); err != nil {
		return fmt.Errorf("add wireguard link: %w", err)
	}
	link, err := k.Netlink.LinkByName(name)
	if err == nil {
		err = markOurs(k.Netlink, link.Attrs().Index)
	}
	if err != nil {
		// The step fails, so Up's rollback does not undo it: the new
		// link goes here (its group marks it ours, should this fail too).
		k.Netlink.LinkDel(&netlink.Wireguard{LinkAttrs: attrs})
		return fmt.Errorf("create wireguard link %s: %w", name, err)
	}
	return nil
}
