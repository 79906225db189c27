//go:build linux

package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/wgtransparent/transparent/internal/sentinel"

	"github.com/wgtransparent/transparent/internal/namespace"
	"golang.org/x/sys/unix"
)

// Root holds the tunnels' locks and records, one
// directory per network namespace. /run is cleared at boot, as are the
// rules and routes they describe. Only the user that made it may use it:
// its files decide which kernel objects Down removes, and a lock that
// anyone could take would let any user stop root's Up.
const Root = "/run/wgtransparent"

// maxStateFile bounds what is read from a record or lock file, so that a
// planted /dev/zero or a runaway file is refused rather than read for
// ever. A record is a few hundred bytes plus about 130 bytes per peer whose
// failover state it keeps: a hub of 100000 failed-over peers fits.
const maxStateFile = 16 << 20

// Permissions of the state directories and files: the owner's alone.
const (
	stateDirMode  = 0o700
	stateFileMode = 0o600
)

// DirOf names the state directory of the network namespace ns:
// Root/netns-<cookie>. The cookie (SO_NETNS_COOKIE, Linux 5.14) is
// unique for the life of the system, so a new namespace never inherits
// the records and locks of a deleted one, even when it gets the same
// inode. Older kernels have no cookie: the directory is then named by the
// namespace's device and inode, which the kernel may reuse after the
// namespace is gone (a record of a deleted namespace may then describe
// objects the new one does not have; Up and Down treat those as already
// gone).
func DirOf(ns namespace.NS) (string, error) {
	var cookie uint64
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		return err
	})
	if err == nil {
		return filepath.Join(Root, "netns-"+strconv.FormatUint(cookie, 10)), nil
	}
	if !errors.Is(err, unix.ENOPROTOOPT) {
		return "", fmt.Errorf("identify network namespace: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ns.Handle), &st); err != nil {
		return "", fmt.Errorf("identify network namespace: %w", err)
	}
	return filepath.Join(Root, fmt.Sprintf("netns-ino-%d-%d", st.Dev, st.Ino)), nil
}

// EnsureDir makes dir and its parent (Root), or checks existing
// ones: real directories (not symlinks), owned by this process's user,
// and closed to everyone else (a looser mode, as older releases made, is
// tightened).
func EnsureDir(dir string) error {
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Mkdir(d, stateDirMode); errors.Is(err, os.ErrPermission) {
			return sentinel.WithHint(fmt.Errorf("make state directory %s: %w", d, err), fmt.Sprintf("this process runs as uid %d, and only root may create it: run as uid 0", os.Geteuid()))
		} else if err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("make state directory %s: %w", d, err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return fmt.Errorf("check state directory %s: %w", d, err)
		}
		if err := checkOwned(d, &st, unix.S_IFDIR); err != nil {
			return err
		}
		if st.Mode&0o077 != 0 {
			if err := unix.Chmod(d, stateDirMode); err != nil {
				return fmt.Errorf("restrict state directory %s: %w", d, err)
			}
		}
	}
	return nil
}

// checkOwned refuses a state file or directory that is not of type kind
// (unix.S_IFDIR or unix.S_IFREG) or not owned by this process's user.
func checkOwned(path string, st *unix.Stat_t, kind uint32) error {
	if st.Mode&unix.S_IFMT != kind {
		what := "a directory"
		if kind == unix.S_IFREG {
			what = "a regular file"
		}
		return fmt.Errorf("state path %s is %s, not %s: %w; remove it", path, fileKind(st.Mode), what, sentinel.ErrUnsafeState)
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("state path %s belongs to %s, and this process runs as uid %d: %w; run as uid %d, whose tunnels' live locks and records it holds", path, uidName(st.Uid), uid, sentinel.ErrUnsafeState, st.Uid)
	}
	return nil
}

// uidName names a user id for a message: root is worth saying, since a
// process with capabilities but another uid is the usual case.
func uidName(uid uint32) string {
	if uid == 0 {
		return "root (uid 0)"
	}
	return "uid " + strconv.FormatUint(uint64(uid), 10)
}

// fileKind names the type of file that mode describes, for messages.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	}
	return "an unknown kind of file"
}

// Open opens a state file without following symlinks, creating it
// when flags ask, and checks that it is ours. It never blocks: the open is
// non-blocking (a FIFO would otherwise wait for a writer, and a device
// could wait forever), and anything but a regular file is refused before
// it is read or written.
func Open(path string, flags int) (*os.File, error) {
	fd, err := unix.Open(path, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, stateFileMode)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("open %s: a symlink: %w; remove it", path, sentinel.ErrUnsafeState)
	case errors.Is(err, unix.ENXIO): // a FIFO without reader, or a socket
		return nil, fmt.Errorf("open %s: not a regular file (a FIFO or socket): %w; remove it", path, sentinel.ErrUnsafeState)
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("check %s: %w", path, err)
	}
	if err := checkOwned(path, &st, unix.S_IFREG); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// A regular file: reads and writes do not block, and its descriptor
	// is an ordinary one again.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if st.Mode&0o077 != 0 {
		if err := unix.Fchmod(fd, stateFileMode); err != nil {
			f.Close()
			return nil, fmt.Errorf("restrict %s: %w", path, err)
		}
	}
	return f, nil
}

// Read reads a whole state file of at most maxStateFile bytes.
func Read(path string) ([]byte, error) {
	f, err := Open(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxStateFile {
		return nil, fmt.Errorf("read %s: larger than %d bytes: %w", path, maxStateFile, sentinel.ErrUnsafeState)
	}
	return data, nil
}

// Write replaces a state file atomically: readers see the old
// content or the new, never a part.
func Write(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
