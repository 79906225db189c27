//go:build linux

package transparent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

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
// stateRoot/embedded/NAME.owner: its pid, the identity of the device's
// namespace (the name of that namespace's state directory, which the
// namespace cookie makes unique for the life of the system), the
// namespace's path as given, and the link's index. A device is read
// through its socket only when the link NAME exists in the tunnel's
// namespace, the owner file names that namespace and that link's index,
// and the socket's server (SO_PEERCRED) is the pid it names. The file
// also says which namespace holds a name that Up in another one would
// clash with, and whether a tunnel's device died with its process.

// ownerDir holds the owner files; like the socket, it is shared by all
// namespaces.
var ownerDir = filepath.Join(stateRoot, "embedded")

// ownerSuffix ends an owner file's name: not ".json", which the tunnels'
// records use.
const ownerSuffix = ".owner"

// uapiOwner is an owner file's content.
type uapiOwner struct {
	PID   int
	NetNS string // the namespace's identity: its state directory's name
	Path  string `json:",omitempty"` // the namespace's path as the Tunnel was given it; "" for its process's own
	Index int    // the link's index in that namespace
}

func ownerPath(name string) string { return filepath.Join(ownerDir, name+ownerSuffix) }

// where names the owner's namespace for a message.
func (o *uapiOwner) where() string {
	if o.Path != "" {
		return fmt.Sprintf("network namespace %s", o.Path)
	}
	return fmt.Sprintf("the network namespace of process %d (/proc/%d/ns/net)", o.PID, o.PID)
}

// writeOwner records that this process serves the embedded device name.
func writeOwner(name string, o uapiOwner) error {
	if err := ensureStateDir(ownerDir); err != nil {
		return fmt.Errorf("record the embedded device's owner: %w", err)
	}
	data, err := json.Marshal(o)
	if err == nil {
		err = writeState(ownerPath(name), data)
	}
	if err != nil {
		return fmt.Errorf("record the embedded device's owner: %w", err)
	}
	return nil
}

// readOwner reads the owner file of name; nil when there is none or it
// is not one this package wrote (then nothing is known of the owner).
func readOwner(name string) *uapiOwner {
	data, err := readState(ownerPath(name))
	if err != nil {
		return nil
	}
	var o uapiOwner
	if json.Unmarshal(data, &o) != nil || o.PID <= 0 || o.NetNS == "" {
		return nil
	}
	return &o
}

// removeOwner removes the owner file of name when it describes the
// device of pid with link index (a device made again since has another).
func removeOwner(name string, pid, index int) {
	if o := readOwner(name); o != nil && o.PID == pid && o.Index == index {
		os.Remove(ownerPath(name))
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

// namespaceID is the identity of the kernel's namespace in owner files:
// the name of its state directory.
func (k *liveKernel) namespaceID() string {
	if k.nsID == "" {
		if dir, err := stateDirOf(k.ns); err == nil {
			k.nsID = filepath.Base(dir)
		}
	}
	return k.nsID
}

// uapiServes tells whether the UAPI socket of name serves the embedded
// device whose link has index in this kernel's namespace (a nil error),
// or else why not, as a conflict.
func (k *liveKernel) uapiServes(name string, index int) error {
	pid, _ := socketServer(name)
	o := readOwner(name)
	switch {
	case pid == 0:
		return fmt.Errorf("read device %s: nobody serves its UAPI socket %s (its process ended?): %w", name, uapiPath(name), ErrConflict)
	case o == nil || o.PID != pid:
		return fmt.Errorf("read device %s: its UAPI socket %s is served by process %d, which did not make this link (a WireGuard device not made by this package, perhaps in another network namespace): %w", name, uapiPath(name), pid, ErrConflict)
	case o.NetNS != k.namespaceID():
		return fmt.Errorf("read device %s: its UAPI socket %s, which all namespaces share, serves the embedded device %s of %s: %w", name, uapiPath(name), name, o.where(), ErrConflict)
	case o.Index != index:
		return fmt.Errorf("read device %s: its UAPI socket %s serves link %d, not this namespace's link %d: %w", name, uapiPath(name), o.Index, index, ErrConflict)
	}
	return nil
}

// uapiClash returns a conflict error when the UAPI socket that an
// embedded device called name would serve is served already by a device
// of another namespace (or one this package did not make): Up refuses
// such a name before any change, and Plan reports it. A socket whose
// process died is no clash: the new device replaces it.
func (k *liveKernel) uapiClash(name string) error {
	pid, _ := socketServer(name)
	if pid == 0 {
		return nil
	}
	o := readOwner(name)
	if o != nil && o.PID == pid && o.NetNS == k.namespaceID() {
		return nil // this namespace's device, stopping after its link was deleted
	}
	where := "another network namespace, or a WireGuard device not made by this package"
	if o != nil && o.PID == pid {
		where = o.where()
	}
	return fmt.Errorf("the embedded device %s of %s (process %d) serves the UAPI socket %s, which all network namespaces share: %w; choose another interface name for this tunnel (rename its file)",
		name, where, pid, uapiPath(name), ErrConflict)
}

// deviceGone returns ErrDeviceGone when the embedded device name of this
// kernel's namespace died with its process: its link is gone, its socket
// answers no more, and its owner file names this namespace.
func (k *liveKernel) deviceGone(name string) error {
	pid, stale := socketServer(name)
	o := readOwner(name)
	if pid != 0 || o == nil || o.NetNS != k.namespaceID() || !stale && processAlive(o.PID) {
		return nil
	}
	return fmt.Errorf("device %s: the embedded device's process (pid %d) is gone: %w", name, o.PID, ErrDeviceGone)
}

// processAlive reports whether a process with pid exists.
func processAlive(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}

// removeStaleOwner removes the owner file of name when its device is
// gone: its process ended, or nobody serves the socket any more.
func removeStaleOwner(name string) {
	o := readOwner(name)
	if o == nil {
		return
	}
	if pid, _ := socketServer(name); pid != o.PID || !processAlive(o.PID) {
		os.Remove(ownerPath(name))
	}
}
