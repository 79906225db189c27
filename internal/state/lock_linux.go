//go:build linux

package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Every operation that reads or changes the kernel (Up, Down, Plan, Check)
// holds its tunnel's lock, a flock on stateDir/tunnel-<Name>.lock, so that
// the same tunnel driven from two processes (or two Tunnels in one
// process) changes one operation at a time: each reads the record the one
// before it left and sees the state it made, and the last to take the lock
// decides the final state. Claiming priorities and a table
// also holds the namespace's lock, stateDir/claims.lock, so that two
// tunnels cannot claim the same ones at once. The tunnel's lock is always
// taken first.

// lockPoll is how often a waiting operation retries a lock, checking its
// context in between.
const lockPoll = 10 * time.Millisecond

// lockRetries bounds how often Acquire starts again because the lock
// file or its directory went away under it (a Down of another tunnel
// removing the namespace's directory, a holder removing its lock file):
// each needs another process's whole operation, so a handful is plenty.
const lockRetries = 100

// lockReport is how long an operation waits for a lock before it logs who
// holds it.
const lockReport = time.Second

// ClaimsLock is the namespace's lock; tunnels' files start with
// "tunnel-", so no tunnel name can collide with it.
const ClaimsLock = "claims.lock"

// Held is a flock held on a lock file.
type Held struct {
	f    *os.File
	path string
}

// Acquire takes the lock at path, waiting for another holder until ctx is
// done, and writes who holds it (pid and verb) into the file for waiters
// to report. A lock file may be removed by its holder (Release with
// remove): a waiter that then gets the lock of the removed file tries
// again with the new one, so two holders never coexist. Once ctx is done
// it returns ctx's error, also when the lock is free: an operation
// cancelled while it waited must not act after all.
func Acquire(ctx context.Context, log *slog.Logger, dir, path, verb string) (*Held, error) {
	return acquireLock(ctx, log, dir, path, verb, true)
}

// TryAcquire takes the lock at path if no one holds it, else fails at
// once.
func TryAcquire(dir, path, verb string) (*Held, error) {
	return acquireLock(context.Background(), slog.New(slog.DiscardHandler), dir, path, verb, false)
}

func acquireLock(ctx context.Context, log *slog.Logger, dir, path, verb string, wait bool) (*Held, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := EnsureDir(dir); err != nil {
			return nil, ExplainPermission(err)
		}
		f, err := Open(path, unix.O_RDWR|unix.O_CREAT)
		if errors.Is(err, os.ErrNotExist) && attempt < lockRetries {
			continue // the directory was removed by a Down meanwhile
		}
		if err != nil {
			return nil, ExplainPermission(fmt.Errorf("open lock: %w", err))
		}
		if err := waitFlock(ctx, log, f, path, wait); err != nil {
			f.Close()
			return nil, err
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) != nil || unix.Lstat(path, &now) != nil || held.Ino != now.Ino || held.Dev != now.Dev {
			f.Close() // removed by the holder before us
			if attempt >= lockRetries {
				return nil, fmt.Errorf("lock %s: removed under us %d times", path, attempt)
			}
			continue
		}
		holder := fmt.Sprintf("pid %d (%s)\n", os.Getpid(), verb)
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(holder), 0) // a report for waiters only
		}
		return &Held{f: f, path: path}, nil
	}
}

// HeldError is TryAcquire's refusal: someone holds the lock.
type HeldError struct {
	path   string
	Holder string // as lockHolder reads it
}

func (e *HeldError) Error() string { return fmt.Sprintf("lock %s: held by %s", e.path, e.Holder) }

// waitFlock takes the flock on f, polling until ctx is done (with wait),
// or trying once. It never blocks in the kernel: a holder that is stopped
// (SIGSTOP) or hangs keeps a waiter only until its ctx is done.
func waitFlock(ctx context.Context, log *slog.Logger, f *os.File, path string, wait bool) error {
	start := time.Now()
	reported := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			if err := ctx.Err(); err != nil { // cancelled meanwhile: do not act
				unix.Flock(int(f.Fd()), unix.LOCK_UN)
				return fmt.Errorf("lock %s: %w", path, err)
			}
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		if !wait {
			return &HeldError{path: path, Holder: lockHolder(f)}
		}
		if !reported && time.Since(start) > lockReport {
			log.Info("waiting for lock", "path", path, "holder", lockHolder(f))
			reported = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for lock %s, held by %s: %w", path, lockHolder(f), ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// lockHolder reads who holds a lock, as its holder wrote it.
func lockHolder(f *os.File) string {
	buf := make([]byte, 128)
	n, err := f.ReadAt(buf, 0)
	if n == 0 && err != nil && !errors.Is(err, io.EOF) {
		return "another process"
	}
	if s := strings.TrimSpace(string(buf[:n])); s != "" {
		return strings.ToValidUTF8(s, "?")
	}
	return "another process"
}

// Release releases the lock; with remove, it first removes the lock file,
// which no one needs any more.
func (l *Held) Release(remove bool) {
	if remove {
		os.Remove(l.path)
	}
	l.f.Close() // closing releases the flock
}

// explainStatePermission says what is needed when the state directory
// cannot be made or opened for lack of permission.
func ExplainPermission(err error) error {
	if !errors.Is(err, os.ErrPermission) {
		return err
	}
	return fmt.Errorf("%w (the tunnel's locks and records live in %s: run as root, uid 0, with at least CAP_NET_ADMIN)", err, Root)
}
