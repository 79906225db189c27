package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/wgtransparent/transparent"
)

// round is one repetition of one implementation at one (N, SNAT): a fresh
// world, the four operations, and the teardown.
type round struct {
	w               *world
	cfg, changedCfg transparent.Config
	snat            bool
	n, rep          int
	shim            *shim // non-nil in the counting repetition
	settle          time.Duration
}

// measure times fn and counts A's netlink notifications and, in the
// counting repetition, the processes started during it.
func (r *round) measure(impl, op string, fn func() error) (sample, error) {
	s := sample{impl: impl, snat: r.snat, n: r.n, op: op, rep: r.rep, counted: r.shim != nil, status: statusOK}
	r.w.events.settle(r.settle) // forget what came before
	if r.shim != nil {
		if _, _, err := r.shim.take(); err != nil {
			return s, err
		}
	}
	secs, err := timed(fn)
	if err != nil {
		return s, err
	}
	s.seconds = secs
	s.events, s.dropped = r.w.events.settle(r.settle)
	if r.shim != nil {
		if s.spawns, s.detail, err = r.shim.take(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// runRound builds a world, runs impl in it and tears it down, also after
// a failure.
func runRound(ctx context.Context, b *bench, impl string, snat bool, n, rep int) ([]sample, error) {
	dests := destinations(n, b.stride)
	r := &round{
		cfg:        configA(b.nameA(impl), b.keys, dests, snat),
		changedCfg: configA(b.nameA(impl), b.keys, changed(dests, b.stride), snat),
		snat:       snat, n: n, rep: rep, settle: b.settle,
	}
	if rep == 0 {
		r.shim = b.shim
	}
	w, err := newWorld(ctx, b.keys, b.nameB)
	if err != nil {
		return nil, fmt.Errorf("build the world: %w", err)
	}
	defer w.close()
	r.w = w
	if r.shim != nil {
		// The library and wg-quick look their commands up in PATH when
		// they run them; wg-quick inherits this process's environment.
		old := os.Getenv("PATH")
		os.Setenv("PATH", r.shim.path())
		defer os.Setenv("PATH", old)
	}
	if impl == "library" {
		return runLibrary(ctx, r)
	}
	return runWGQuick(ctx, b, r)
}
