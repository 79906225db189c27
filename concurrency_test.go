package transparent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
)

// TestConcurrentUse calls Up, Down, Plan and Check of one Tunnel from many
// goroutines at once (run with -race), and checks that the tunnel ends
// consistent: a final Up leaves nothing to do, a final Down leaves the
// namespace as it was.
func TestConcurrentUse(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "conc")
	before, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	cfg := articleA(PeerRouteRule)
	cfg.Name = "wgconc"
	tun, err := New(cfg, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 100)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				var err error
				switch (i + j) % 4 {
				case 0, 1:
					err = tun.Up(ctx)
				case 2:
					err = tun.Down(ctx)
				case 3:
					if err = tun.Check(ctx); errors.Is(err, ErrDrift) {
						err = nil // down is a legitimate state to find
					}
				}
				if err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("concurrent call: %v", err)
	}
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tun.Check(ctx); err != nil {
		t.Errorf("Check after the final Up: %v", err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	if diff := testns.Diff(before, after); diff != "" {
		t.Errorf("after the final Down:\n%s", diff)
	}
}

// TestLockExcludesOtherTunnels: while one Tunnel holds the lock of a
// tunnel (namespace and name), another Tunnel of the same tunnel, as
// another process would have, waits; it gives up when its context ends,
// and goes ahead once the lock is free. The lock is flock(2), which
// excludes other processes the same way.
func TestLockExcludesOtherTunnels(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "lock")
	cfg := articleA(PeerRouteRule)
	cfg.Name = "wglock"
	first, err := New(cfg, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := New(cfg, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	unlock, err := first.lock(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	holder := fmt.Sprintf("held by pid %d (test)", os.Getpid())
	if err := second.Down(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "wait for lock") || !strings.Contains(err.Error(), holder) {
		t.Errorf("Down while another holds the lock = %v, want a lock wait that times out and says it is %s", err, holder)
	}
	done := make(chan error)
	go func() { done <- second.Down(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Down did not wait for the lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	if err := <-done; err != nil {
		t.Errorf("Down after the lock was freed: %v", err)
	}
}
