//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// apply runs steps in order through the tunnel's kernel, logging each,
// and returns the errors of the writes. On failure, when rollback is set,
// it undoes the steps already made, newest first, and returns the errors
// of that too: undoErr nil after a failure means the kernel is as before.
// Without rollback (Down), it goes on past a failed step.
func (t *Tunnel) apply(ctx context.Context, verb string, steps []step, rollback bool) (err, undoErr error) {
	t.writes = 0
	var done []step
	var errs []error
	for i := 0; i < len(steps); i++ {
		s := steps[i]
		if _, ok := s.(*keep); ok {
			continue // a plan's note, not a write
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", verb, t.cfg.Name, err))
			break
		}
		if b, n := t.routeRun(steps[i:]); n > 0 { // routes_batch.go
			d, e := t.applyRoutes(verb, b, steps[i:i+n])
			done, errs, i = append(done, d...), append(errs, e...), i+n-1
			if len(e) > 0 && rollback {
				break
			}
			continue
		}
		t.logStep(LogChange, s)
		time.Sleep(t.stepDelay)
		t.writes++
		err := errInjected
		if t.writes != t.failWrite {
			err = s.do(t.k)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %s: %w", verb, t.cfg.Name, s, err))
			if rollback {
				break
			}
			continue
		}
		done = append(done, s)
	}
	if len(errs) == 0 || !rollback {
		return errors.Join(errs...), nil
	}
	var undoErrs []error
	for i := len(done) - 1; i >= 0; i-- {
		t.logStep(LogUndo, done[i])
		if err := done[i].undo(t.k); err != nil {
			undoErrs = append(undoErrs, fmt.Errorf("roll back %s: %w", done[i], err))
		}
	}
	return errors.Join(errs...), errors.Join(undoErrs...)
}
