//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/wgtransparent/transparent/internal/linuxnet"
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
		if _, ok := s.(*keepStep); ok {
			continue // a plan's note, not a write
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", verb, t.cfg.Name, err))
			break
		}
		if b, n := t.routeRun(steps[i:]); n > 0 {
			d, e := t.applyRoutes(verb, b, steps[i:i+n])
			done, errs, i = append(done, d...), append(errs, e...), i+n-1
			if len(e) > 0 && rollback {
				break
			}
			continue
		}
		t.logStep(LogChange, s)
		t.writes++
		if err := s.do(t.k); err != nil {
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

// routeBatcher is a kernel that writes many routes at once: the live
// kernel sends routeBatch route requests in one sendmsg and
// reads the answers after, where netlink.RouteAdd waits for
// each (and the step looks the link up for each). At 100000 routes that
// is 0.6 seconds against 4.4 (docs/BENCHMARKS.md, "Route writes"). The result has one error per
// route, nil for a route written or already as asked (EEXIST on add,
// ESRCH on delete, as addRoute and delRoute): the kernel handles every
// request of a batch, also after one fails. Kernels without it (the
// tests' fake) write route by route.
type routeBatcher interface {
	AddRoutes(name string, rs []linuxnet.Route) []error
	DelRoutes(name string, rs []linuxnet.Route) []error
}

// minRouteBatch is the shortest run of route steps worth a socket of
// its own.
const minRouteBatch = 8

// routeRun returns the number of steps at the head of steps that t can
// write as one batch: consecutive route additions, or route deletions,
// through one link, on a kernel that batches; 0 when it is not worth it.
func (t *Tunnel) routeRun(steps []step) (routeBatcher, int) {
	b, ok := t.k.(routeBatcher)
	if !ok {
		return nil, 0
	}
	key := func(s step) (name string, add, ok bool) {
		switch s := s.(type) {
		case *addRouteStep:
			return s.name, true, true
		case *delRouteStep:
			return s.name, false, true
		}
		return "", false, false
	}
	name, add, ok := key(steps[0])
	if !ok {
		return nil, 0
	}
	n := 1
	for n < len(steps) {
		nm, a, ok := key(steps[n])
		if !ok || nm != name || a != add {
			break
		}
		n++
	}
	if n < minRouteBatch {
		return nil, 0
	}
	return b, n
}

// applyRoutes writes a run of route steps (routeRun) through b, logging
// and counting each as apply does. It returns the steps done and an error
// per step that failed, each naming its route. After a failure the later
// routes of the run have been written too (the kernel handles every
// request of a batch): they are among the steps done, for a rollback to
// undo.
func (t *Tunnel) applyRoutes(verb string, b routeBatcher, run []step) (done []step, errs []error) {
	rs := make([]linuxnet.Route, len(run))
	var name string
	var results []error
	for i, s := range run {
		t.logStep(LogChange, s)
		t.writes++
		switch s := s.(type) {
		case *addRouteStep:
			name, rs[i] = s.name, s.route
		case *delRouteStep:
			name, rs[i] = s.name, s.route
		}
	}
	if _, add := run[0].(*addRouteStep); add {
		results = b.AddRoutes(name, rs)
	} else {
		results = b.DelRoutes(name, rs)
	}
	for i, err := range results {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %s: %w", verb, t.cfg.Name, run[i], err))
			continue
		}
		done = append(done, run[i])
	}
	return done, errs
}

// Every change Up and Down make is logged at level Info with a short,
// constant message, LogChange (LogUndo for a rollback's), for log
// processors to match, and attributes that say what changed:
//
//   - "op": add, remove or replace, as Plan's Change.Op (under LogUndo,
//     the op of the change undone);
//   - "step": the change in words, as Plan's Change.Step, such as
//     "add rule 456 to 203.0.113.2/32 lookup 123";
//   - the object's: "link"; "address"; "route" and "table"; "rule",
//     "priority" and "table"; "peers" (their public keys, secrets hidden);
//     "firewall", "family" and "hook".
//
// The logger of WithLogger adds "tunnel", the tunnel's Name.
const (
	LogChange = "change"
	LogUndo   = "undo"
)

// logStep logs step s under msg (LogChange or LogUndo).
func (t *Tunnel) logStep(msg string, s step) {
	attrs := []slog.Attr{slog.String("op", string(s.op())), slog.String("step", s.String())}
	if o, ok := s.(objectAttrs); ok {
		attrs = append(attrs, o.attrs()...)
	}
	t.log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}
