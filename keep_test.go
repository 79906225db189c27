package transparent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
)

// TestWatchEndsOnDownElsewhere: a Watch whose process does not run the
// device (as with kernel WireGuard, where no DeviceDone tells it) ends
// with ErrBroughtDown when another process's Down removes the tunnel, and
// re-creates nothing; Repair then changes nothing either, while an Up
// brings the tunnel back. The test reproduces issue 23's second break in
// the library: Watch used to put the tunnel back right after the Down.
func TestWatchEndsOnDownElsewhere(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	before := dump(t, w.A)
	cfg := w.configA(transparent.PeerRouteRule)
	owner := newTunnel(t, cfg, w.A) // runs the embedded device, if any
	ctx := context.Background()
	if err := owner.Up(ctx); err != nil {
		t.Fatal(err)
	}
	watcher := newTunnel(t, cfg, w.A)
	if err := watcher.Up(ctx); err != nil { // as run does before it watches
		t.Fatal(err)
	}
	if watcher.DeviceDone() != nil {
		t.Fatal("the watcher runs the device; want it run by another Tunnel")
	}
	loop, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan error, 1)
	go func() { watched <- watcher.Watch(loop) }()
	time.Sleep(2 * transparent.WatchDebounce) // Watch's first Up: nothing to do

	if err := newTunnel(t, cfg, w.A).Down(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-watched:
		if !errors.Is(err, transparent.ErrBroughtDown) {
			t.Errorf("Watch after another Tunnel's Down = %v, want ErrBroughtDown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not end after another Tunnel's Down")
	}
	time.Sleep(5 * transparent.WatchDebounce)
	expectSameDump(t, w.A, before, "after Down while another Tunnel watched")
	if err := watcher.Repair(ctx); !errors.Is(err, transparent.ErrBroughtDown) {
		t.Errorf("Repair after the Down = %v, want ErrBroughtDown", err)
	}
	expectSameDump(t, w.A, before, "after Repair of a tunnel brought down")
	if err := watcher.Up(ctx); err != nil {
		t.Fatalf("Up after the Down: %v", err)
	}
	if err := watcher.Repair(ctx); err != nil {
		t.Errorf("Repair after a new Up: %v", err)
	}
	if err := watcher.Down(ctx); err != nil {
		t.Fatal(err)
	}
	expectSameDump(t, w.A, before, "after the last Down")
}

// TestKeepOnce: one keeper per tunnel. A second Keep is refused with a
// *KeptError matching ErrKept that names the keeper's pid and verb, also
// from another Tunnel of the same config; once released, the next Keep
// succeeds, and the last release leaves no file.
func TestKeepOnce(t *testing.T) {
	w := newArticle(t)
	cfg := w.configA(transparent.PeerRouteRule)
	a, b := newTunnel(t, cfg, w.A), newTunnel(t, cfg, w.A)
	release, err := a.Keep("run")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Keep("up")
	var kept *transparent.KeptError
	if !errors.As(err, &kept) || !errors.Is(err, transparent.ErrKept) || kept.Holder != fmt.Sprintf("pid %d (run)", os.Getpid()) ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d (run)", os.Getpid())) {
		t.Fatalf("a second Keep = %v, want a *KeptError naming pid %d (run)", err, os.Getpid())
	}
	release()
	release, err = b.Keep("up")
	if err != nil {
		t.Fatalf("Keep after the release: %v", err)
	}
	release()
	if m, _ := filepath.Glob(filepath.Join(w.A.StateDir(), "*"+cfg.Name+"*")); len(m) > 0 {
		t.Errorf("after the last release: %v remain", m)
	}
}
