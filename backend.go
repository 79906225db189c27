//go:build linux

package transparent

import (
	"fmt"
)

// Backend selects the WireGuard implementation behind the link.
type Backend uint8

const (
	// BackendAuto (the zero value) uses kernel WireGuard when the kernel
	// has it and the embedded device otherwise. An existing link keeps the
	// backend it has.
	BackendAuto Backend = iota
	// BackendKernel requires kernel WireGuard.
	BackendKernel
	// BackendUserspace runs an embedded wireguard-go device inside this
	// process. The link lives as long as the process (or until Down or
	// Close), and the device's UAPI socket is /var/run/wireguard/NAME.sock,
	// where `wg show` and wgctrl find it. That directory is shared by all
	// network namespaces, so embedded devices need distinct names even in
	// different namespaces.
	BackendUserspace
)

func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendKernel:
		return "kernel"
	case BackendUserspace:
		return "userspace"
	}
	return fmt.Sprintf("Backend(%d)", uint8(b))
}
