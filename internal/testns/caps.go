package testns

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// StartRestricted starts cmd in namespace n with only the capability keep
// (-1: none), although as root: from a thread that enters n and drops
// every other capability from its bounding set, which a child started by
// that thread inherits, so that a root child gets no other capability at
// exec. The thread is never unlocked, so Go discards it with its
// namespace and capabilities; no other thread changes. The child is
// killed at cleanup if still running.
func StartRestricted(t TB, n *NS, keep int, cmd *exec.Cmd) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := netns.Set(n.Handle); err != nil {
			errc <- err
			return
		}
		for c := 0; ; c++ {
			if c == keep {
				continue
			}
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); errors.Is(err, unix.EINVAL) {
				break // past the last capability
			} else if err != nil {
				errc <- fmt.Errorf("drop capability %d: %w", c, err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("start %s in %s: %v", cmd.Path, n.Name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}
