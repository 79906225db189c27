// Package sentinel holds the sentinel errors that the drivers below the
// root package return; the root package re-exports each, with its
// documentation, as os re-exports internal/oserror.
package sentinel

import "errors"

// The errors, each documented where the root package re-exports it.
var (
	ErrConflict          = errors.New("conflict with an object this tunnel does not own")
	ErrNoKernelWireGuard = errors.New("kernel has no WireGuard support")
	ErrFirewall          = errors.New("firewall unavailable")
	ErrUnsafeState       = errors.New("unsafe state path")
	ErrDeviceGone        = errors.New("the embedded device's process is gone")
)
