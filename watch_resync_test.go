//go:build linux

package transparent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockedLog is a log destination safe for Watch's goroutine and the test.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWatchResubscribesAfterOverflow: when receiving the kernel's change
// notifications fails (ENOBUFS, the kernel dropped some), Watch does not
// go deaf: it logs it, subscribes again and runs an Up, which repairs the
// drift whose notification was lost, and counts a resync.
func TestWatchResubscribesAfterOverflow(t *testing.T) {
	k := newScenarioFake(false)
	logs := &lockedLog{}
	tun, err := newFakeTunnel(articleA(PeerRouteRule), k, filepath.Join(t.TempDir(), "state", "netns-fake"),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tun.Watch(ctx) }()
	// The fake is read and written under the tunnel's lock: Watch's Ups
	// hold it too.
	locked := func(f func()) { tun.mu.Lock(); defer tun.mu.Unlock(); f() }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			ok := false
			locked(func() { ok = cond() })
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	var rules int
	waitFor("Watch's first Up", func() bool { rules = len(k.ruleList); return tun.wasUp && rules > 0 })

	locked(func() { k.ruleList = nil }) // drift whose notification the kernel dropped
	k.lost <- unix.ENOBUFS
	waitFor("the rules repaired after the overflow", func() bool { return len(k.ruleList) == rules })
	if n := k.subscribes.Load(); n != 2 {
		t.Errorf("Subscribe called %d times, want 2 (once more after the overflow)", n)
	}
	if s := tun.Stats(); s.Resyncs != 1 {
		t.Errorf("Stats() = %+v, want one resync", s)
	}
	if !strings.Contains(logs.String(), "lost the kernel's change notifications") || !strings.Contains(logs.String(), "no buffer space") {
		t.Errorf("no log line naming the overflow:\n%s", logs)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v, want context.Canceled", err)
	}
}
