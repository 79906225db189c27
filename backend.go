package transparent

import (
	"errors"
	"fmt"
	"os"

	"github.com/mdlayher/genetlink"
	"github.com/vishvananda/netlink"
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

// backend is the WireGuard implementation that makes and removes the link.
// Everything else (addresses, routes, rules, and the device settings
// through wgctrl) is the same for both.
type backend interface {
	kind() Backend
	// create makes the link, down, with the given MTU.
	create(name string, mtu int) error
	// linkUp is called after the link was set up; the embedded device
	// binds its UDP socket here and reports failure (such as a busy port).
	linkUp() error
	// owns reports whether an existing link is a device this backend may
	// manage.
	owns(l netlink.Link) bool
	// remove deletes the link.
	remove(l netlink.Link) error
	// close releases what the backend holds in this process.
	close() error
}

// chooseBackend picks the backend for the tunnel's link: the one an
// existing link already has, else the one requested, with BackendAuto
// asking the kernel whether it has WireGuard.
func (t *Tunnel) chooseBackend(existing netlink.Link) (backend, error) {
	if t.backend != nil && (existing == nil || t.backend.owns(existing)) {
		return t.backend, nil
	}
	if existing != nil {
		switch existing.Type() {
		case "wireguard":
			k := &kernelBackend{h: t.nl}
			switch {
			case !k.owns(existing):
				return nil, fmt.Errorf("link %s is a WireGuard device made by someone else (its alias is not %q): %w", t.cfg.Name, linkAlias, ErrConflict)
			case t.want == BackendUserspace:
				return nil, fmt.Errorf("link %s is a kernel WireGuard device but BackendUserspace was requested: %w", t.cfg.Name, ErrConflict)
			}
			return t.setBackend(k), nil
		case "tuntap":
			return nil, fmt.Errorf("link %s is a TUN device that this process does not run (another wireguard-go or VPN?): %w", t.cfg.Name, ErrConflict)
		}
		return nil, fmt.Errorf("link %s exists and is a %q link, not WireGuard: %w", t.cfg.Name, existing.Type(), ErrConflict)
	}
	if t.want == BackendUserspace {
		return t.setBackend(&userspaceBackend{ns: t.ns, log: t.log}), nil
	}
	ok, err := t.kernelHasWireGuard()
	switch {
	case err != nil:
		return nil, fmt.Errorf("look for kernel WireGuard: %w", err)
	case ok:
		return t.setBackend(&kernelBackend{h: t.nl}), nil
	case t.want == BackendKernel:
		return nil, fmt.Errorf("create link %s: %w (load the wireguard module, or use BackendUserspace)", t.cfg.Name, ErrNoKernelWireGuard)
	}
	t.log.Info("kernel has no WireGuard; using the embedded wireguard-go device", "name", t.cfg.Name)
	return t.setBackend(&userspaceBackend{ns: t.ns, log: t.log}), nil
}

func (t *Tunnel) setBackend(b backend) backend {
	t.backend = b
	return b
}

// kernelHasWireGuard asks generic netlink, inside the tunnel's namespace,
// for the "wireguard" family. The lookup also loads the module on demand.
func (t *Tunnel) kernelHasWireGuard() (bool, error) {
	var found bool
	err := t.ns.do(func() error {
		c, err := genetlink.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.GetFamily("wireguard")
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}
