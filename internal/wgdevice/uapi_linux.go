//go:build linux

package wgdevice

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/wgtransparent/transparent/internal/sentinel"
	"golang.org/x/sys/unix"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
)

// uapiSocket serves an embedded device's UAPI socket,
// /var/run/wireguard/<name>.sock, through which wgctrl, `wg` and other
// processes read and change the device. Someone may delete the file (a
// cleanup script, a careless `rm`): the device would then be
// unmanageable from every process, this one included. So while the
// device runs, a socket whose file is deleted or replaced is served anew
// at once (watch), and Up checks the file too (serveAgain).
//
// The path is shared by all namespaces, so the file is removed only while
// it is still the one this socket made (its inode): a file another
// process's device made there after ours was deleted stays. (wireguard-go's
// own listener removes whatever file is at the path when it closes.)
type uapiSocket struct {
	name string
	dev  *device.Device

	mu     sync.Mutex
	l      net.Listener // nil between a deletion and serving again
	file   fileID       // the socket file l made
	stop   func()       // ends the watch of l's file
	closed bool
}

// fileID tells a file at a path from another made there later.
type fileID struct{ dev, ino uint64 }

// fileAt is the identity of the file at path (not following a symlink).
func fileAt(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

func (s *uapiSocket) path() string { return uapiPath(s.name) }

// serve opens the socket and accepts connections on it until it is closed;
// after its file is deleted or replaced, it serves a new one.
func (s *uapiSocket) serve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listen()
}

// listen opens the socket file and serves it; s.mu is held.
func (s *uapiSocket) listen() error {
	f, err := ipc.UAPIOpen(s.name)
	if err != nil {
		return fmt.Errorf("open UAPI socket %s (shared by all namespaces: give each embedded device its own name): %w", s.path(), errors.Join(err, sentinel.ErrConflict))
	}
	defer f.Close()
	id, err := fileAt(s.path())
	if err != nil {
		return fmt.Errorf("listen on UAPI socket %s: %w", s.path(), err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		s.remove(id)
		return fmt.Errorf("listen on UAPI socket %s: %w", s.path(), err)
	}
	if ul, ok := l.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // remove does it, when the file is still ours
	}
	stop, err := watchFile(s.path(), func() { s.replace(l) })
	if err != nil {
		l.Close()
		s.remove(id)
		return fmt.Errorf("watch UAPI socket %s: %w", s.path(), err)
	}
	s.l, s.file, s.stop = l, id, stop
	go s.accept(l)
	return nil
}

func (s *uapiSocket) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			// Closed by end, or failing (too many open files): then
			// serve a new socket, as for a deleted file.
			s.replace(l)
			return
		}
		go s.dev.IpcHandle(c)
	}
}

// replace serves a new socket in place of the listener l whose file was
// deleted or changed, or which failed, unless it was closed on purpose or
// replaced already.
func (s *uapiSocket) replace(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.l != l {
		return
	}
	s.end()
	s.listen() // on failure, the next Up tries again (serveAgain) and reports it
}

// end stops serving s.l and removes its file if it is still ours; s.mu
// is held and s.l is not nil.
func (s *uapiSocket) end() error {
	s.stop()
	err := s.l.Close()
	s.remove(s.file)
	s.l, s.stop = nil, nil
	return err
}

// remove deletes the socket file when it is the one id names.
func (s *uapiSocket) remove(id fileID) {
	if at, err := fileAt(s.path()); err == nil && at == id {
		os.Remove(s.path())
	}
}

// serveAgain serves a new socket when the device's file is missing or not
// ours (or an earlier attempt failed). It is a no-op otherwise and after
// close.
func (s *uapiSocket) serveAgain() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if at, err := fileAt(s.path()); s.l != nil && err == nil && at == s.file {
		return nil // served
	}
	if s.l != nil {
		s.end()
	}
	if err := s.listen(); err != nil {
		return fmt.Errorf("serve the embedded device's UAPI socket again: %w", err)
	}
	return nil
}

// close stops serving and removes the socket file if it is ours, once.
func (s *uapiSocket) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.l == nil {
		return nil
	}
	return s.end()
}

// UAPIErrno makes an embedded device's error readable: wgctrl reports it as
// "wguser: errno=-98"; this adds the errno itself ("address already in
// use"), which errors.Is can then match.
func UAPIErrno(err error) error {
	if err == nil {
		return nil
	}
	_, num, found := strings.Cut(err.Error(), "errno=")
	n, convErr := strconv.Atoi(strings.TrimSpace(num))
	if !found || convErr != nil || n == 0 {
		return err
	}
	return fmt.Errorf("%w: %w", err, unix.Errno(max(n, -n)))
}
