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
// asking the kernel whether it has WireGuard. Links are recognized as ours
// by their alias (linkAlias); anything else of the tunnel's name is a
// conflict.
func (t *Tunnel) chooseBackend(existing netlink.Link) (backend, error) {
	if existing == nil {
		if _, remote := t.backend.(*remoteUserspace); t.backend != nil && !remote {
			return t.backend, nil
		}
		return t.newBackend()
	}
	if t.backend != nil && t.backend.owns(existing) {
		if u, ok := t.backend.(*userspaceBackend); ok && u.sock != nil {
			// Someone may have deleted the socket of the device this
			// process runs: serve it again (uapi.go).
			if err := u.sock.serveAgain(); err != nil {
				return nil, err
			}
		}
		return t.backend, nil
	}
	ours := isOurs(existing)
	switch typ := existing.Type(); {
	case typ == "wireguard" && !ours:
		return nil, fmt.Errorf("link %s is a WireGuard device made by someone else (its alias is not %q), such as wg-quick's: %w", t.cfg.Name, linkAlias, ErrConflict)
	case typ == "wireguard" && t.want == BackendUserspace:
		return nil, fmt.Errorf("link %s is a kernel WireGuard device but BackendUserspace was requested: %w", t.cfg.Name, ErrConflict)
	case typ == "wireguard":
		return t.setBackend(&kernelBackend{h: t.nl}), nil
	case typ == "tuntap" && !ours:
		return nil, fmt.Errorf("link %s is a TUN device that is not ours (another wireguard-go or VPN?): %w", t.cfg.Name, ErrConflict)
	case typ == "tuntap" && t.want == BackendKernel:
		return nil, fmt.Errorf("link %s is an embedded WireGuard device but BackendKernel was requested: %w", t.cfg.Name, ErrConflict)
	case typ == "tuntap":
		// Our embedded device, run by another process (or another Tunnel):
		// its settings are reachable through its UAPI socket.
		t.log.Info("the embedded device is run by another process", "name", t.cfg.Name)
		return t.setBackend(&remoteUserspace{h: t.nl}), nil
	}
	return nil, fmt.Errorf("link %s exists and is a %q link, not WireGuard: %w", t.cfg.Name, existing.Type(), ErrConflict)
}

// newBackend returns the backend that makes a new link.
func (t *Tunnel) newBackend() (backend, error) {
	if t.want == BackendUserspace {
		return t.setBackend(&userspaceBackend{ns: t.ns, h: t.nl, log: t.log}), nil
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
	return t.setBackend(&userspaceBackend{ns: t.ns, h: t.nl, log: t.log}), nil
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

// Marks of the links this package makes. The alias shows in `ip link`;
// the group is set atomically when a kernel link is created (see
// kernelBackend.create). A link with either is ours.
const (
	linkAlias = "wgtransparent"
	linkGroup = 0x77677470 // "wgtp"
)

func isOurs(l netlink.Link) bool {
	return l.Attrs().Alias == linkAlias || l.Attrs().Group == linkGroup
}

// markOurs sets linkAlias on a link this package has just made, the mark
// by which later operations, in this process or another, know it as ours.
func markOurs(h *netlink.Handle, index int) error {
	link, err := h.LinkByIndex(index)
	if err == nil {
		err = h.LinkSetAlias(link, linkAlias)
	}
	if err != nil {
		return fmt.Errorf("mark link as ours: %w", err)
	}
	return nil
}
