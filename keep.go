//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wgtransparent/transparent/internal/state"
)

// A process that keeps a tunnel up for a long time (Watch, the command's
// run or a foreground up with an embedded device) must end when someone
// brings the tunnel down, and must not share the tunnel with a second
// such process: each would undo the other's Down. Repair (and every Up of
// Watch) tells another process's Down, which removes the tunnel's record,
// from drift such as a deleted link, which leaves the record in place;
// Keep makes one keeper per tunnel.

// keeperPrefix starts the name of a tunnel's keeper lock,
// stateDir/keeper-<Name>.lock: tunnels' own files start with "tunnel-",
// so no tunnel name can collide with it.
const keeperPrefix = "keeper-"

// Keep tries keepRetries more times, keepRetryWait apart, before it says
// that another process keeps the tunnel: about 100 ms, far longer than a
// Down or a show holds the keeper lock, far shorter than anyone waits
// for a refusal.
const (
	keepRetries   = 10
	keepRetryWait = 10 * time.Millisecond
)

func (t *Tunnel) keeperPath() string {
	return filepath.Join(t.stateDir, keeperPrefix+t.cfg.Name+".lock")
}

// removeStaleKeeper removes the keeper lock of a keeper that ended
// without giving it up (SIGKILL) once the tunnel is down; a live keeper
// holds it, and keeps it.
func (t *Tunnel) removeStaleKeeper() {
	if _, err := os.Lstat(t.keeperPath()); err != nil {
		return
	}
	if l, err := state.TryAcquire(t.stateDir, t.keeperPath(), "cleanup"); err == nil {
		l.Release(true)
	}
}

// Repair is Up for a tunnel that is meant to stay up: it repairs drift
// (a deleted rule, route or link, an embedded device whose link someone
// deleted) as Up does, unless the tunnel was brought down since this
// Tunnel's last Up, by another process's Down, which removed its record.
// Then it changes nothing and returns ErrBroughtDown, until the next Up: a
// program that keeps the tunnel up should end. The check and the repair
// happen under the tunnel's lock, so a Down running meanwhile is never
// undone. Before this Tunnel's first Up, Repair is Up.
func (t *Tunnel) Repair(ctx context.Context) error {
	_, err := t.up(ctx, true)
	return err
}

// broughtDown returns ErrBroughtDown when this Tunnel's Up succeeded and
// the tunnel's record is gone since. The tunnel's lock is held.
func (t *Tunnel) broughtDown() error {
	if !t.wasUp {
		return nil
	}
	_, err := os.Lstat(t.recordPath())
	if !errors.Is(err, os.ErrNotExist) {
		return nil // there (or unreadable, which Up reports): still up
	}
	return fmt.Errorf("repair %s: its record %s is gone: %w", t.cfg.Name, t.recordPath(), ErrBroughtDown)
}

// KeptError is Keep's refusal: another process keeps the tunnel up.
type KeptError struct {
	Name   string
	Holder string // "pid 1234 (run)", as the keeper wrote it; "another process" when unknown
	PID    int    // the keeper's pid, from Holder; 0 when unknown
	Status string // what the keeper last reported with KeeperStatus; "" for nothing
}

func (e *KeptError) Error() string {
	return fmt.Sprintf("tunnel %s is kept up already, by %s; stop that process first (a down of the tunnel ends it too)", e.Name, e.Holder)
}

// Is reports whether target is ErrKept.
func (e *KeptError) Is(target error) bool { return target == ErrKept }

// Keep takes the tunnel's keeper lock, which a process holds for as long
// as it keeps the tunnel up (the command's run, a foreground up running
// an embedded device), so that two such processes never fight over one
// tunnel. It does not wait: when another process holds it, Keep returns a
// *KeptError (matching ErrKept) naming that process's pid and verb, as it
// wrote them. release gives the lock up; the lock is also released when
// the process ends, however it ends. Keep changes nothing in the kernel.
func (t *Tunnel) Keep(verb string) (release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	l, err := state.TryAcquire(t.stateDir, t.keeperPath(), verb)
	var held *state.HeldError
	// Others hold the lock for a moment, never keeping the tunnel: a
	// Down removing a dead keeper's lock, a show reading who holds it.
	for try := 0; errors.As(err, &held) && try < keepRetries; try++ {
		time.Sleep(keepRetryWait)
		l, err = state.TryAcquire(t.stateDir, t.keeperPath(), verb)
	}
	if errors.As(err, &held) {
		return nil, &KeptError{Name: t.cfg.Name, Holder: held.Holder, PID: holderPID(held.Holder), Status: held.Status}
	}
	if err != nil {
		return nil, fmt.Errorf("keep %s: %w", t.cfg.Name, err)
	}
	t.keeper = l
	return func() {
		t.mu.Lock()
		if t.keeper == l {
			t.keeper = nil
		}
		t.mu.Unlock()
		l.Release(true)
		t.removeStateDir() // a Down meanwhile left the directory to us
	}, nil
}

// KeeperStatus publishes status (one line; control characters are
// replaced) in the keeper lock this Tunnel holds (Keep), after the pid and
// verb, for other processes to read: Keep's *KeptError carries it as
// Status. The command's run uses it to answer a reload request ("reload
// 3: ok"). It fails when this Tunnel does not keep the tunnel.
func (t *Tunnel) KeeperStatus(status string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keeper == nil {
		return fmt.Errorf("report status of %s: this process does not keep it (Keep)", t.cfg.Name)
	}
	if err := t.keeper.Report(status); err != nil {
		return fmt.Errorf("report status of %s: %w", t.cfg.Name, err)
	}
	return nil
}

// holderPID reads the pid from a lock holder's text, "pid 1234 (run)"; 0
// when it has none.
func holderPID(holder string) int {
	rest, ok := strings.CutPrefix(holder, "pid ")
	if !ok {
		return 0
	}
	digits, _, _ := strings.Cut(rest, " ")
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
