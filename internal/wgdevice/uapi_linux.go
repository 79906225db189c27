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
// cleanup script, a careless `rm`): wireguard-go's listener then stops,
// and the device would be unmanageable from every process, this one
// included. So while the device runs, a listener that ends is replaced at
// once, and Up checks the file too (serveAgain).
type uapiSocket struct {
	name string
	dev  *device.Device

	mu     sync.Mutex
	l      net.Listener // nil between a deletion and serving again
	closed bool
}

func (s *uapiSocket) path() string { return uapiPath(s.name) }

// serve opens the socket and accepts connections on it until it is closed
// or its file is deleted; after a deletion, it serves a new one.
func (s *uapiSocket) serve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listen()
}

// listen opens the socket file; s.mu is held.
func (s *uapiSocket) listen() error {
	f, err := ipc.UAPIOpen(s.name)
	if err != nil {
		return fmt.Errorf("open UAPI socket %s (shared by all namespaces: give each embedded device its own name): %w", s.path(), errors.Join(err, sentinel.ErrConflict))
	}
	l, err := ipc.UAPIListen(s.name, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("listen on UAPI socket %s: %w", s.path(), err)
	}
	s.l = l
	go s.accept(l)
	return nil
}

func (s *uapiSocket) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			// Closed by close or serveAgain, or ended by wireguard-go's
			// watcher of the file, which ends the listener on any change
			// to it (deleted, or even its mode changed).
			s.replace(l)
			return
		}
		go s.dev.IpcHandle(c)
	}
}

// replace serves a new socket in place of the listener l that ended,
// unless it was closed on purpose or replaced already.
func (s *uapiSocket) replace(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.l != l {
		return
	}
	closeListener(l) // removes the file, if still there, for listen to make anew
	s.l = nil
	s.listen() // on failure, the next Up tries again (serveAgain) and reports it
}

// serveAgain serves a new socket when the device's file is missing (or an
// earlier attempt failed). It is a no-op otherwise and after close.
func (s *uapiSocket) serveAgain() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if _, err := os.Lstat(s.path()); err == nil && s.l != nil {
		return nil // served
	}
	if s.l != nil {
		closeListener(s.l) // its accept loop then finds it replaced
		s.l = nil
	}
	if err := s.listen(); err != nil {
		return fmt.Errorf("serve the embedded device's UAPI socket again: %w", err)
	}
	return nil
}

// close stops serving and removes the socket file, once.
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
	return closeListener(s.l)
}

// closeListener closes a UAPI listener, which removes its socket file.
// wireguard-go's listener races with itself on Close: its inotify
// watcher, woken by the first step of Close, may close the pipe that
// Close then writes to ("file already closed"; seen in 2 of 20 stops).
// The socket is closed either way.
func closeListener(l net.Listener) error {
	if err := l.Close(); !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
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
