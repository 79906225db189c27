//go:build linux

package namespace

import (
	"errors"
	"os"
	"strings"

	"github.com/wgtransparent/transparent/internal/nsdo"
	"github.com/wgtransparent/transparent/internal/sentinel"
	"golang.org/x/sys/unix"
)

// ExplainPermission adds to a permission error (which still matches
// os.ErrPermission) the capability the process lacks: CAP_NET_ADMIN for
// any change to the network, CAP_SYS_ADMIN only to enter another network
// namespace (WithNetNS). When it has them, the refusal came from
// elsewhere, and the error says so.
func ExplainPermission(err error) error {
	if !errors.Is(err, os.ErrPermission) || sentinel.HasHint(err) {
		return err
	}
	var missing []string
	if !hasCapability(unix.CAP_NET_ADMIN) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if errors.Is(err, nsdo.ErrEnter) && !hasCapability(unix.CAP_SYS_ADMIN) {
		missing = append(missing, "CAP_SYS_ADMIN (to enter another network namespace)")
	}
	if len(missing) == 0 {
		return sentinel.WithHint(err, "the process has CAP_NET_ADMIN, and CAP_SYS_ADMIN where it enters another namespace: the refusal comes from a security module, a user namespace that does not own the network namespace, or file permissions")
	}
	return sentinel.WithHint(err, "the process lacks "+strings.Join(missing, " and ")+": run as root, or grant it, such as with systemd's AmbientCapabilities=")
}

// hasCapability reports whether the calling thread's effective set holds
// capability c (all of Go's threads share it unless someone changed one).
func hasCapability(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}
