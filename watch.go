//go:build linux

package transparent

import (
	"context"
	"errors"
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
// Changes to the SNAT rules or the device settings raise no netlink event:
// call Repair (or Check) periodically for those.
//
// Each Up of Watch is a Repair: once this Tunnel has been up, a Down by
// another process (which removes the tunnel's record) ends Watch with
// ErrBroughtDown, changing nothing, while drift that leaves the record in
// place, a deleted link included, is repaired. Watch returns ctx's error,
// ErrBroughtDown, or the error of subscribing to the changes.
//
// With TransparentNames, Watch also wakes when a name's answer's TTL runs
// out or a grace period ends: it resolves the due names and,
// when the addresses to route changed, runs Up, which adds the new
// addresses and removes those whose grace period is over, a few steps
// rather than a rebuild. A name server that stops answering leaves the
// addresses as they are; Watch logs it and retries with backoff.
func (t *Tunnel) Watch(ctx context.Context) error {
	changed, stop, err := t.k.Subscribe()
	if err != nil {
		return namespace.ExplainPermission(err)
	}
	defer stop()

	timer := time.NewTimer(0) // the first Up at once
	defer timer.Stop()
	nameTimer := time.NewTimer(time.Hour)
	defer nameTimer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			timer.Reset(WatchDebounce)
		case <-timer.C:
			err := t.up(ctx, true)
			if errors.Is(err, ErrBroughtDown) {
				return err
			}
			if err != nil && ctx.Err() == nil {
				t.log.Error("watch: up failed; retrying at the next change", "err", err)
			}
		case <-t.armNameTimer(nameTimer):
			if err := t.watchNames(ctx); errors.Is(err, ErrBroughtDown) {
				return err
			}
		}
	}
}
