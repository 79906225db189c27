//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// lockDir holds one lock file per tunnel (network namespace and Name).
// Up, Down, Plan and Check hold the tunnel's lock, so that the same tunnel
// driven from two processes (or two Tunnels in one process) changes one
// operation at a time: each sees the state the one before it left, and
// the last to run decides the final state. /run is cleared at boot, as
// are the rules and routes the lock protects.
const lockDir = "/run/wgtransparent"

// lockPoll is how often a waiting operation retries the lock, checking its
// context in between.
const lockPoll = 10 * time.Millisecond

// lockPath names the lock of the tunnel called name in the namespace whose
// handle is ns: by the namespace's device and inode, which identify it
// whatever path it was opened by.
func lockPath(ns int, name string) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(ns, &st); err != nil {
		return "", fmt.Errorf("identify network namespace: %w", err)
	}
	return filepath.Join(lockDir, fmt.Sprintf("netns-%d-%d-%s.lock", st.Dev, st.Ino, name)), nil
}

// lock takes the tunnel's lock, waiting for another holder until ctx is
// done, and returns the function that releases it.
func (t *Tunnel) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, fmt.Errorf("make lock directory: %w", err)
	}
	f, err := os.OpenFile(t.lockPath, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", t.lockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s, held by another Up or Down of this tunnel: %w", t.lockPath, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
