package transparent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/state"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// hangLimit bounds how long a test waits for an operation that must not
// block (a FIFO, a stopped lock holder): far beyond any normal operation,
// it only turns a hang into a failure.
const hangLimit = 30 * time.Second

// recordTunnel returns a Tunnel of the article's A named name, with
// Priority 1000 and Table 300, in namespace ns.
func recordTunnel(t *testing.T, ns *testns.NS, name string, port int) *Tunnel {
	t.Helper()
	cfg := articleA(PeerRouteRule)
	cfg.Name, cfg.ListenPort, cfg.Priority, cfg.Table = name, port, 1000, 300
	tun, err := New(cfg, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

// bounded runs op and fails the test if it does not return within
// hangLimit.
func bounded(t *testing.T, what string, op func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangLimit):
		t.Fatalf("%s hangs", what)
		return nil
	}
}

// unchanged fails the test if the namespace differs from before.
func unchanged(t *testing.T, ns *testns.NS, before, when string) {
	t.Helper()
	diff, err := testns.DiffSettled(ns, before)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("%s changed the namespace:\n%s", when, diff)
	}
}

// TestLostRecordRefused: tunnel X is up at Priority 1000 and Table 300;
// its record is garbage, or deleted. Tunnel Y with the same Priority and
// Table is refused by Up, Plan and Check (ErrUnsafeState naming X's file
// for garbage, ErrConflict naming the rules and the command that removes
// them for a deleted record), and its Down leaves X's objects alone: the
// namespace is unchanged and X, its record restored, checks clean and
// comes down.
func TestLostRecordRefused(t *testing.T) {
	testns.RequireRoot(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		spoil   func(path string) error
		wantErr error
		mention []string
	}{
		{"garbage", func(path string) error { return os.WriteFile(path, []byte("garbage{"), 0o600) },
			ErrUnsafeState, []string{"tunnel-wgrecx.json", "wgrecx", "remove"}},
		{"deleted", os.Remove,
			ErrConflict, []string{"priorities 1000-1002", "proto 87", "ip rule del", "table 300", "ip route flush table 300 proto 87"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testns.New(t, "wgrec")
			x := recordTunnel(t, ns, "wgrecx", 51841)
			y := recordTunnel(t, ns, "wgrecy", 51842)
			if err := x.Up(ctx); err != nil {
				t.Fatal(err)
			}
			saved, err := os.ReadFile(x.recordPath())
			if err != nil {
				t.Fatal(err)
			}
			before, err := testns.DumpSettled(ns)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.spoil(x.recordPath()); err != nil {
				t.Fatal(err)
			}
			for verb, op := range map[string]func(context.Context) error{
				"Up": y.Up, "Check": y.Check, "Plan": func(ctx context.Context) error { _, err := y.Plan(ctx); return err },
			} {
				err := op(ctx)
				if !errors.Is(err, tc.wantErr) || !containsAll(err.Error(), tc.mention...) {
					t.Errorf("%s of Y = %v, want %v naming %q", verb, err, tc.wantErr, tc.mention)
				}
			}
			if err := y.Down(ctx); !errors.Is(err, ErrConflict) || !containsAll(err.Error(), "left alone", "ip rule del") {
				t.Errorf("Down of Y = %v, want ErrConflict saying what it left alone", err)
			}
			if _, err := os.Lstat(y.recordPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Y has a record: %v", err)
			}
			unchanged(t, ns, before, "Y's operations")
			if err := os.WriteFile(x.recordPath(), saved, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := x.Check(ctx); err != nil {
				t.Errorf("Check of X after its record is back: %v", err)
			}
			if err := x.Down(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUnsafeRecordRefused: a tunnel's own record that is a symlink, a
// FIFO, another user's file or garbage, or another tunnel's record that is
// a FIFO, is refused with ErrUnsafeState naming the file, at once (a FIFO
// never blocks an open), by Up, Plan, Check and Down; nothing changes and
// the file stays as it was, never overwritten.
func TestUnsafeRecordRefused(t *testing.T) {
	testns.RequireRoot(t)
	ctx := context.Background()
	ns := testns.New(t, "wgrec")
	tun := recordTunnel(t, ns, "wgreco", 51843)
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(tun.recordPath())
	if err != nil {
		t.Fatal(err)
	}
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(tun.stateDir, recordPrefix+"wgrecf"+recordSuffix)
	fifo := func(path string) error { return unix.Mkfifo(path, 0o600) }
	for _, tc := range []struct {
		name    string
		path    string // the record spoiled; the tunnel's own when empty
		prepare func(path string) error
		upOnly  bool // Down does not need another tunnel's record
	}{
		{name: "own record is a symlink", prepare: func(path string) error {
			target := filepath.Join(t.TempDir(), "target")
			if err := os.WriteFile(target, saved, 0o600); err != nil {
				return err
			}
			return os.Symlink(target, path)
		}},
		{name: "own record is a FIFO", prepare: fifo},
		{name: "own record owned by another user", prepare: func(path string) error {
			if err := os.WriteFile(path, saved, 0o600); err != nil {
				return err
			}
			return os.Chown(path, nobody, nobody)
		}},
		{name: "own record is garbage", prepare: func(path string) error { return os.WriteFile(path, []byte("garbage{"), 0o600) }},
		{name: "another tunnel's record is a FIFO", path: other, prepare: fifo, upOnly: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = tun.recordPath()
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if err := tc.prepare(path); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Lstat(path, &st); err != nil {
				t.Fatal(err)
			}
			defer func() {
				// A reader blocked on the FIFO would be freed by a writer.
				if fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
					unix.Close(fd)
				}
				os.Remove(path)
				if tc.path == "" {
					if err := os.WriteFile(path, saved, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}()
			ops := map[string]func(context.Context) error{
				"Up": tun.Up, "Check": tun.Check, "Plan": func(ctx context.Context) error { _, err := tun.Plan(ctx); return err },
			}
			if !tc.upOnly {
				ops["Down"] = tun.Down
			}
			for verb, op := range ops {
				err := bounded(t, verb, func() error { return op(ctx) })
				if !errors.Is(err, ErrUnsafeState) || !containsAll(err.Error(), path) {
					t.Errorf("%s = %v, want ErrUnsafeState naming %s", verb, err, path)
				}
			}
			var after unix.Stat_t
			if err := unix.Lstat(path, &after); err != nil || after.Ino != st.Ino || after.Mode != st.Mode {
				t.Errorf("%s was replaced or removed (%v)", path, err)
			}
			unchanged(t, ns, before, "the refused operations")
		})
	}
	if err := tun.Check(ctx); err != nil {
		t.Errorf("Check once the record is back: %v", err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLockWaitCancelled: a process that holds the tunnel's lock is stopped
// (SIGSTOP). An Up or Down waiting for the lock returns ctx's error once
// its ctx is cancelled (as SIGTERM or SIGINT cancel the command's), and
// does nothing after it, also once the holder is gone; an operation whose
// ctx is already done does nothing either, though the lock is free.
func TestLockWaitCancelled(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "wgrec")
	tun := recordTunnel(t, ns, "wgrecl", 51844)
	if err := tun.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Down(context.Background()) })
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}

	// The holder: a child given the lock file's descriptor after this
	// process took the flock on it; closing ours leaves the child the
	// only holder.
	f, err := state.Open(tun.lockPath(), unix.O_RDWR|unix.O_CREAT)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "600")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() {
		holder.Process.Signal(syscall.SIGCONT)
		holder.Process.Kill()
		holder.Wait()
	})
	if err := holder.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}

	for verb, op := range map[string]func(context.Context) error{"Up": tun.Up, "Down": tun.Down} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		err := bounded(t, verb+" waiting for a stopped holder", func() error { return op(ctx) })
		cancel()
		if !errors.Is(err, context.Canceled) || !containsAll(err.Error(), tun.lockPath()) {
			t.Errorf("%s = %v, want context.Canceled naming the lock", verb, err)
		}
	}
	holder.Process.Signal(syscall.SIGCONT)
	holder.Process.Kill()
	holder.Wait()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for verb, op := range map[string]func(context.Context) error{"Up": tun.Up, "Down": tun.Down} {
		if err := op(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx and a free lock = %v, want context.Canceled", verb, err)
		}
	}
	unchanged(t, ns, before, "the cancelled operations")
	if err := tun.Check(context.Background()); err != nil {
		t.Errorf("Check after the cancelled operations: %v", err)
	}
}
