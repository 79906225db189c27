package transparent

import (
	"errors"

	"github.com/wgtransparent/transparent/internal/sentinel"
)

// Sentinel errors, checkable with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every problem Validate reports.
	ErrInvalidConfig = errors.New("invalid config")

	// ErrConflict means an object the tunnel needs is already taken by
	// something that is not this tunnel's: a rule at its priorities, a route
	// in its table, a link of its name that is not a WireGuard device it can
	// manage, or priorities or a table that another tunnel of this package
	// in the same namespace has claimed. Nothing was changed; the error
	// names the object, its owner when known, and the fix.
	ErrConflict = sentinel.ErrConflict

	// ErrNoKernelWireGuard means the kernel backend was required but the
	// kernel has no WireGuard support (no "wireguard" generic netlink family).
	ErrNoKernelWireGuard = sentinel.ErrNoKernelWireGuard

	// ErrFirewall means the SNAT rules cannot be made: no nf_tables or NAT
	// support in the kernel, or no iptables binary when iptables is
	// chosen. The error says what to install or load.
	ErrFirewall = sentinel.ErrFirewall

	// ErrStrictRPFilter means strict reverse-path filtering on the
	// underlay would drop the peer's WireGuard packets in ExceptionFwMark
	// mode. The error names the sysctl to set to loose (2).
	ErrStrictRPFilter = errors.New("strict reverse-path filtering")

	// ErrDrift is matched by Check's *DriftError: the kernel differs from
	// the config.
	ErrDrift = errors.New("kernel state differs from the config")

	// ErrUnsafeState means a file or directory where the tunnel keeps its
	// locks and records (/run/wgtransparent) is not what this package
	// makes: a symlink, another kind of file (a FIFO is refused at once,
	// never waited on), owned by another user, or a record whose content
	// this package did not write. Nothing was changed; the error names the
	// path and the fix.
	ErrUnsafeState = sentinel.ErrUnsafeState

	// ErrName means a host name of TransparentNames gave no addresses to
	// route: it did not resolve (no such name, no A or AAAA records, no
	// answer from the name server), or its answer was refused (an address
	// inside the tunnel's own addresses or AllowedIPs, or routed to
	// another peer). Up fails with it, changing nothing, for a name that
	// never resolved; a name that resolved before keeps its addresses. The
	// error names the field, the name and the address.
	ErrName = errors.New("transparent name not resolved")

	// ErrBroughtDown is returned by Repair, and ends Watch, when the
	// tunnel was brought down by someone else since this Tunnel's last
	// Up: its record is gone (another process's Down removed it). Nothing
	// was changed: the tunnel stays down.
	ErrBroughtDown = errors.New("tunnel was brought down by another process")

	// ErrKept is matched by Keep's *KeptError: another process keeps the
	// tunnel up already.
	ErrKept = errors.New("tunnel is kept up by another process")

	// ErrDeviceGone is returned by Device when the tunnel's embedded
	// device died with the process that ran it (killed, say): its link
	// is gone while the rules may remain. An Up makes it again.
	ErrDeviceGone = sentinel.ErrDeviceGone

	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("tunnel is closed")
)
