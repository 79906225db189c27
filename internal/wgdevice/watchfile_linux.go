//go:build linux

package wgdevice

import (
	"os"

	"golang.org/x/sys/unix"
)

// watchFile calls changed once, from a goroutine of its own, when the
// file at path is deleted, replaced (renamed over) or has its attributes
// changed, which a UAPI socket's file must not be; stop ends the watch
// without calling it. A file already gone calls changed at once.
func watchFile(path string, changed func()) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_ATTRIB|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("inotify_add_watch", err)
	}
	// A non-blocking descriptor in an os.File waits in the runtime's
	// poller, so that Close wakes the read below.
	f := os.NewFile(uintptr(fd), "inotify")
	stopped := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		// The watch starts after the file was made: check it is still
		// there, or a deletion before the watch would go unseen.
		if _, err := os.Lstat(path); err == nil {
			f.Read(buf)
		}
		select {
		case <-stopped: // the read ended because stop closed f
		default:
			changed() // an event, the file gone, or a failed read: serve anew
		}
	}()
	return func() {
		close(stopped)
		f.Close()
	}, nil
}
