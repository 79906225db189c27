package transparent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/state"
	"github.com/wgtransparent/transparent/internal/testns"
)

// nobody is the uid of an unprivileged user for ownership tests.
const nobody = 65534

// stateTunnel returns a Tunnel of the article's A, named name, in a new
// namespace; its device is never made (Plan and Check only read).
func stateTunnel(t *testing.T, name string) *Tunnel {
	t.Helper()
	testns.RequireRoot(t)
	ns := testns.New(t, "state")
	cfg := articleA(PeerRouteRule)
	cfg.Name = name
	tun, err := New(cfg, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

// TestStateFilesPrivate: the state directories are 0700 and the lock 0600,
// owned by this user (a directory an older release made 0755 is
// tightened); a Check of a tunnel that is not up leaves no file behind,
// and neither does its namespace's directory.
func TestStateFilesPrivate(t *testing.T) {
	tun := stateTunnel(t, "wgstate0")
	if err := os.MkdirAll(state.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := tun.lock(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{state.Root: 0o700 | os.ModeDir, tun.stateDir: 0o700 | os.ModeDir, tun.lockPath(): 0o600} {
		st, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want || st.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
			t.Errorf("%s: mode %v uid %d, want %v and ours", path, st.Mode(), st.Sys().(*syscall.Stat_t).Uid, want)
		}
	}
	unlock()
	if err := tun.Check(context.Background()); !errors.Is(err, ErrDrift) {
		t.Fatalf("Check of a tunnel that is not up = %v, want drift", err)
	}
	if _, err := os.Lstat(tun.stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Check of a tunnel that is not up, %s stays (%v)", tun.stateDir, err)
	}
}

// TestStaleKeeperRemoved: the keeper lock that a keeper killed with
// SIGKILL leaves (no process holds it) goes with the tunnel's Down, and
// with it the namespace's directory; a live keeper's stays.
func TestStaleKeeperRemoved(t *testing.T) {
	tun := stateTunnel(t, "wgstate3")
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	release, err := tun.Keep("run")
	if err != nil {
		t.Fatal(err)
	}
	tun.mu.Lock()
	tun.keeper.Release(false) // as the kernel releases a killed keeper's flock
	tun.keeper = nil
	tun.mu.Unlock()
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(tun.stateDir); !errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(tun.stateDir)
		t.Errorf("after Down, %s stays (%v), holding %v", tun.stateDir, err, entries)
	}
	release()

	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	release, err = tun.Keep("run")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(tun.keeperPath()); err != nil {
		t.Errorf("a live keeper's lock went with Down: %v", err)
	}
}

// TestStateRefusesForeignFiles: a lock file that is a symlink, or a lock
// file or directory that another user owns, is refused with
// ErrUnsafeState naming the path and the fix: a symlink is not ours and
// may go, but a file of another user is that user's live state, so the
// error says to run as that user, never to remove it. No symlink is
// followed.
func TestStateRefusesForeignFiles(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, tun *Tunnel)
		fix     string // what the error tells to do
	}{
		{"lock is a symlink", func(t *testing.T, tun *Tunnel) {
			target := filepath.Join(t.TempDir(), "target")
			if err := os.Symlink(target, tun.lockPath()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if _, err := os.Lstat(target); err == nil {
					t.Errorf("the symlink was followed: %s exists", target)
				}
			})
		}, "remove it"},
		{"lock owned by another user", func(t *testing.T, tun *Tunnel) {
			if err := os.WriteFile(tun.lockPath(), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(tun.lockPath(), nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}, "run as uid 65534"},
		{"directory owned by another user", func(t *testing.T, tun *Tunnel) {
			if err := os.Chown(tun.stateDir, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}, "run as uid 65534"},
		{"directory is a symlink", func(t *testing.T, tun *Tunnel) {
			if err := os.Remove(tun.stateDir); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(t.TempDir(), tun.stateDir); err != nil {
				t.Fatal(err)
			}
		}, "remove it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tun := stateTunnel(t, "wgstate1")
			if err := state.EnsureDir(tun.stateDir); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(tun.stateDir) })
			tc.prepare(t, tun)
			err := tun.Up(ctx)
			if !errors.Is(err, ErrUnsafeState) || !containsAll(err.Error(), tun.stateDir, tc.fix) {
				t.Errorf("Up = %v, want ErrUnsafeState naming the path and the fix", err)
			}
			if l, _ := tun.k.Link(tun.cfg.Name); l != nil {
				t.Error("Up made the link")
			}
		})
	}
}

// TestStateDirPerNamespace: every namespace has its own state directory,
// and a namespace made after another was deleted never gets the deleted
// one's, even when the kernel gives it the same inode: its records cannot
// describe objects the new namespace does not have.
func TestStateDirPerNamespace(t *testing.T) {
	testns.RequireRoot(t)
	seen := map[string]bool{}
	for range 5 {
		ns := testns.New(t, "stateid")
		h := namespace.NS{Handle: ns.Handle}
		dir, err := state.DirOf(h)
		if err != nil {
			t.Fatal(err)
		}
		if seen[dir] {
			t.Fatalf("a new namespace got the state directory %s of a deleted one", dir)
		}
		seen[dir] = true
		ns.Delete()
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
