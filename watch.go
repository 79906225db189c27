//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wgtransparent/transparent/internal/namespace"
)

// WatchDebounce is how long Watch waits after the last change the kernel
// reports before it runs Up: a burst of changes (someone's script, or
// Up's own writes) then costs one Up.
const WatchDebounce = 100 * time.Millisecond

// Watch keeps the tunnel as its config says until ctx is done: it runs
// Up, then again after every change to links, addresses, routes or rules
// in the tunnel's namespace (debounced by WatchDebounce). Up finds nothing
// to do after unrelated changes and after its own writes, so Watch
// settles. An Up that fails is logged and retried at the next change.
// When the kernel drops change notifications (ENOBUFS: another program's
// burst of changes overflowed the socket), Watch logs it, subscribes
// again and runs an Up, which observes the namespace afresh (counted in
// Stats' Resyncs).
// Changes to the SNAT rules or the device settings raise no netlink event:
// call Repair (or Check) periodically for those.
//
// Each Up of Watch is a Repair: once this Tunnel has been up, a Down by
// another process (which removes the tunnel's record) ends Watch with
// ErrBroughtDown, changing nothing, while drift that leaves the record in
// place, a deleted link included, is repaired. Watch returns ctx's error,
// ErrBroughtDown, or the error of subscribing to the changes.
//
// With peers that have a Fallback, Watch also judges their health every
// Health.Interval (one ICMP echo to each one's tunnel address through the
// link, and the device's receive counters) and, when a peer's judgement
// changes, records its new state and runs a Repair, which moves the
// peer's Transparent destinations out of the tunnel or back. Each
// transition is logged.
//
// With TransparentNames, Watch also wakes when a name's answer's TTL runs
// out or a grace period ends: it resolves the due names and,
// when the addresses to route changed, runs Up, which adds the new
// addresses and removes those whose grace period is over, a few steps
// rather than a rebuild. A name server that stops answering leaves the
// addresses as they are; Watch logs it and retries with backoff.
func (t *Tunnel) Watch(ctx context.Context) error {
	changed, lost, stop, err := t.k.Subscribe()
	if err != nil {
		return namespace.ExplainPermission(err)
	}
	defer func() { stop() }() // the last subscription's

	timer := time.NewTimer(0) // the first Up at once
	started := false
	defer timer.Stop()
	nameTimer := time.NewTimer(time.Hour)
	defer nameTimer.Stop()
	hw := newHealthWatch(t)
	healthTimer := time.NewTimer(time.Hour)
	defer healthTimer.Stop()
	armHealth := func() <-chan time.Time {
		d := hw.interval()
		if d == 0 {
			return nil
		}
		healthTimer.Reset(d)
		return healthTimer.C
	}
	healthC := armHealth()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			timer.Reset(WatchDebounce)
		case err := <-lost:
			// Receiving failed, ENOBUFS when a burst of changes overflowed
			// the socket: the kernel dropped notifications, so what changed
			// is unknown. Subscribe again and run an Up, which observes
			// everything afresh.
			stop()
			t.log.Warn("watch: lost the kernel's change notifications; subscribing again and running an up", "err", err)
			if changed, lost, stop, err = t.k.Subscribe(); err != nil {
				stop = func() {}
				return namespace.ExplainPermission(fmt.Errorf("watch: subscribe again after losing notifications: %w", err))
			}
			t.resyncs.Add(1)
			timer.Reset(WatchDebounce)
		case <-timer.C:
			if err := t.watchUp(ctx, !started); errors.Is(err, ErrBroughtDown) {
				return err
			}
			started = true
			if healthC == nil { // a config with a Fallback came with SetConfig
				healthC = armHealth()
			}
		case <-t.armNameTimer(nameTimer):
			if err := t.watchNames(ctx); errors.Is(err, ErrBroughtDown) {
				return err
			}
		case <-healthC:
			if err := hw.tick(ctx); errors.Is(err, ErrBroughtDown) {
				return err
			}
			healthC = armHealth()
		}
	}
}

// watchUp is Watch's Up, a Repair: logged when it fails (Watch retries at
// the next change), counted as a drift repair when it wrote something
// after the first (which brings the tunnel up). It returns the error.
func (t *Tunnel) watchUp(ctx context.Context, first bool) error {
	err := t.up(ctx, true)
	if err != nil && !errors.Is(err, ErrBroughtDown) && ctx.Err() == nil {
		t.log.Error("watch: up failed; retrying at the next change", "err", err)
	}
	t.mu.Lock()
	wrote := t.writes > 0
	t.mu.Unlock()
	if err == nil && wrote && !first {
		t.repairs.Add(1)
	}
	return err
}
