//go:build linux

package wgdevice

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// Marks of the links this package makes. The alias shows in `ip link`;
// the group is set atomically when a kernel link is created (see
// Kernel.Create). A link with either is ours.
const (
	LinkAlias = "wgtransparent"
	LinkGroup = 0x77677470 // "wgtp"
)

// IsOurs reports whether l is a link this package made: its alias, or the
// group the kernel set as it created it (before the alias was set).
func IsOurs(l netlink.Link) bool {
	return l.Attrs().Alias == LinkAlias || l.Attrs().Group == LinkGroup
}

// markOurs sets LinkAlias on a link this package has just made, the mark
// by which later operations, in this process or another, know it as ours.
func markOurs(h *netlink.Handle, index int) error {
	link, err := h.LinkByIndex(index)
	if err == nil {
		err = h.LinkSetAlias(link, LinkAlias)
	}
	if err != nil {
		return fmt.Errorf("mark link as ours: %w", err)
	}
	return nil
}
