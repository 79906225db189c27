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

	"github.com/wgtransparent/transparent/internal/sentinel"
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
	f      *os.File
	path   string
	holder string // the first line of the file: "pid 1234 (run)"
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
		if err := EnsureDir(dir); errors.Is(err, os.ErrNotExist) && attempt < lockRetries {
			continue // made, then removed by a Down before it was checked
		} else if err != nil {
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
		l := &Held{f: f, path: path, holder: fmt.Sprintf("pid %d (%s)", os.Getpid(), verb)}
		l.Report("") // a report for waiters only
		return l, nil
	}
}

// HeldError is TryAcquire's refusal: someone holds the lock.
type HeldError struct {
	path   string
	Holder string // as lockHolder reads it
	Status string // the holder's status line, "" for none
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
			holder, status := readLockReport(f)
			return &HeldError{path: path, Holder: holder, Status: status}
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
	holder, _ := readLockReport(f)
	return holder
}

// Holder is the holder of the lock at path, as it wrote itself, "" when
// no process holds it. It opens an existing file only and never takes the
// lock for longer than the test.
func Holder(path string) string {
	f, err := Open(path, unix.O_RDONLY)
	if err != nil {
		return ""
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return "" // a holder would hold it exclusively
	}
	return lockHolder(f)
}

// maxLockReport bounds what a lock file's report may hold: a holder line
// and a status line, such as a reload's error.
const maxLockReport = 4096

// readLockReport reads a lock file's report: the holder ("pid 1234 (run)",
// "another process" when unknown) and its status line, "" for none. Only
// whole lines count: a report being rewritten may end in a part of the
// one before.
func readLockReport(f *os.File) (holder, status string) {
	buf := make([]byte, maxLockReport)
	n, err := f.ReadAt(buf, 0)
	if n == 0 && err != nil && !errors.Is(err, io.EOF) {
		return "another process", ""
	}
	lines := strings.SplitAfter(strings.ToValidUTF8(string(buf[:n]), "?"), "\n")
	holder = "another process"
	if s := strings.TrimSpace(lines[0]); s != "" {
		holder = s
	}
	if len(lines) > 1 && strings.HasSuffix(lines[1], "\n") {
		status = strings.TrimSpace(lines[1])
	}
	return holder, status
}

// Report writes the holder line and status (one line) into the lock
// file, for waiters and TryAcquire's refusals to read. The new text is
// written over the old before the file is cut to its length, so a reader
// sees whole new lines, perhaps followed by a part of the old ones.
func (l *Held) Report(status string) error {
	status = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, status)
	text := l.holder + "\n"
	if status != "" {
		text += status + "\n"
	}
	if len(text) > maxLockReport {
		text = text[:maxLockReport-1] + "\n"
	}
	if _, err := l.f.WriteAt([]byte(text), 0); err != nil {
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	if err := l.f.Truncate(int64(len(text))); err != nil {
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	return nil
}

// Release releases the lock; with remove, it first removes the lock file,
// which no one needs any more.
func (l *Held) Release(remove bool) {
	if remove {
		os.Remove(l.path)
	}
	l.f.Close() // closing releases the flock
}

// ExplainPermission says what is needed when the state directory
// cannot be made or opened for lack of permission.
func ExplainPermission(err error) error {
	if !errors.Is(err, os.ErrPermission) {
		return err
	}
	return sentinel.WithHint(err, "the tunnel's locks and records live in "+Root+": run as root, uid 0, with at least CAP_NET_ADMIN")
}
