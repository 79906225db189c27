//go:build linux

package wgdevice

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/wgtransparent/transparent/internal/sentinel"
	"github.com/wgtransparent/transparent/internal/state"
	"golang.org/x/sys/unix"
)

// An embedded device's UAPI socket, /var/run/wireguard/NAME.sock, is one
// file for all network namespaces, and wgctrl (like `wg`) reads whatever
// device serves it: asked for NAME in a namespace where no such link
// exists, it would report another namespace's device, peers and counters.
// The serving process's own namespace (SO_PEERCRED, then /proc/PID/ns/net)
// does not tell either, since the TUN device is made from a thread
// switched into the tunnel's namespace.
//
// So the process that runs an embedded device writes its owner file,
// state.Root/embedded/NAME.owner: its pid, the identity of the device's
// namespace (the name of that namespace's state directory, which the
// namespace cookie makes unique for the life of the system), the
// namespace's path as given, and the link's index. A device is read
// through its socket only when the link NAME exists in the tunnel's
// namespace, the owner file names that namespace and that link's index,
// and the socket's server (SO_PEERCRED) is the pid it names (Serves).
// The file also says which namespace holds a name that an Up in another
// one would clash with (Clash), and whether a tunnel's device died with
// its process (Gone).

// ownerDir holds the owner files; like the sockets, it is shared by all
// namespaces.
var ownerDir = filepath.Join(state.Root, "embedded")

// ownerSuffix ends an owner file's name: not ".json", which the tunnels'
// records use.
const ownerSuffix = ".owner"

// owner is an owner file's content.
type owner struct {
	PID   int
	NetNS string // the namespace's identity: its state directory's name
	Path  string `json:",omitempty"` // the namespace's path as the tunnel was given it; "" for its process's own
	Index int    // the link's index in that namespace
}

// OwnerPath is the owner file of the embedded device name.
func OwnerPath(name string) string { return filepath.Join(ownerDir, name+ownerSuffix) }

// NamespaceID is the identity of a namespace in owner files: the name of
// its state directory (stateDir, from state.DirOf).
func NamespaceID(stateDir string) string { return filepath.Base(stateDir) }

// where names the owner's namespace for a message.
func (o *owner) where() string {
	if o.Path != "" {
		return fmt.Sprintf("network namespace %s", o.Path)
	}
	return fmt.Sprintf("the network namespace of process %d (/proc/%d/ns/net)", o.PID, o.PID)
}

// writeOwner records that this process serves the embedded device name.
func writeOwner(name string, o owner) error {
	if err := state.EnsureDir(ownerDir); err != nil {
		return fmt.Errorf("record the embedded device's owner: %w", err)
	}
	data, err := json.Marshal(o)
	if err == nil {
		err = state.Write(OwnerPath(name), data)
	}
	if err != nil {
		return fmt.Errorf("record the embedded device's owner: %w", err)
	}
	return nil
}

// readOwner reads the owner file of name; nil when there is none or it
// is not one this package wrote (then nothing is known of the owner).
func readOwner(name string) *owner {
	data, err := state.Read(OwnerPath(name))
	if err != nil {
		return nil
	}
	var o owner
	if json.Unmarshal(data, &o) != nil || o.PID <= 0 || o.NetNS == "" {
		return nil
	}
	return &o
}

// removeOwner removes the owner file of name when it describes the
// device of pid with link index (a device made again since has another).
func removeOwner(name string, pid, index int) {
	if o := readOwner(name); o != nil && o.PID == pid && o.Index == index {
		os.Remove(OwnerPath(name))
	}
}

// removeStaleOwner removes the owner file of name when its device is
// gone: its process ended, or another serves the socket.
func removeStaleOwner(name string) {
	o := readOwner(name)
	if o == nil {
		return
	}
	if pid, _ := socketServer(name); pid != o.PID || !processAlive(o.PID) {
		os.Remove(OwnerPath(name))
	}
}

// socketServer reports who serves the UAPI socket of name: the server's
// pid, or 0 with stale set when the file is there and nobody answers
// (its process died), or 0 when there is no socket.
func socketServer(name string) (pid int, stale bool) {
	c, err := net.Dial("unix", uapiPath(name))
	if err != nil {
		return 0, errors.Is(err, syscall.ECONNREFUSED)
	}
	defer c.Close()
	rc, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	rc.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return 0, false
	}
	return int(cred.Pid), false
}

// processAlive reports whether a process with pid exists.
func processAlive(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}

// Serves tells whether the UAPI socket of name serves the embedded device
// whose link has index in the namespace nsID (a nil error), or else why
// not, as a conflict.
func Serves(name, nsID string, index int) error {
	pid, _ := socketServer(name)
	o := readOwner(name)
	switch {
	case pid == 0:
		return fmt.Errorf("read device %s: nobody serves its UAPI socket %s (its process ended?): %w", name, uapiPath(name), sentinel.ErrConflict)
	case o == nil || o.PID != pid:
		return fmt.Errorf("read device %s: its UAPI socket %s is served by process %d, which did not make this link (a WireGuard device not made by this package, perhaps in another network namespace): %w", name, uapiPath(name), pid, sentinel.ErrConflict)
	case o.NetNS != nsID:
		return fmt.Errorf("read device %s: its UAPI socket %s, which all namespaces share, serves the embedded device %s of %s: %w", name, uapiPath(name), name, o.where(), sentinel.ErrConflict)
	case o.Index != index:
		return fmt.Errorf("read device %s: its UAPI socket %s serves link %d, not this namespace's link %d: %w", name, uapiPath(name), o.Index, index, sentinel.ErrConflict)
	}
	return nil
}

// Clash returns a conflict error when the UAPI socket that an embedded
// device called name in the namespace nsID would serve is served already
// by a device of another namespace (or one this package did not make). A
// socket whose process died is no clash: a new device replaces it.
func Clash(name, nsID string) error {
	pid, _ := socketServer(name)
	if pid == 0 {
		return nil
	}
	o := readOwner(name)
	if o != nil && o.PID == pid && o.NetNS == nsID {
		return nil // this namespace's device, stopping after its link was deleted
	}
	where := "another network namespace, or a WireGuard device not made by this package"
	if o != nil && o.PID == pid {
		where = o.where()
	}
	return fmt.Errorf("the embedded device %s of %s (process %d) serves the UAPI socket %s, which all network namespaces share: %w; choose another interface name for this tunnel (rename its file)",
		name, where, pid, uapiPath(name), sentinel.ErrConflict)
}

// Gone returns sentinel.ErrDeviceGone when the embedded device name of
// the namespace nsID died with its process: nobody serves its socket, and
// its owner file names that namespace. The caller has found no link.
func Gone(name, nsID string) error {
	pid, stale := socketServer(name)
	o := readOwner(name)
	if pid != 0 || o == nil || o.NetNS != nsID || !stale && processAlive(o.PID) {
		return nil
	}
	return fmt.Errorf("device %s: the embedded device's process (pid %d) is gone: %w", name, o.PID, sentinel.ErrDeviceGone)
}
