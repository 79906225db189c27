package main

import (
	"context"
	"fmt"

	"github.com/wgtransparent/transparent"
)

// runLibrary measures the library on A: New and Up from nothing, a no-op
// Up, SetConfig with 10% of the destinations replaced and Up, and Down.
func runLibrary(ctx context.Context, r *round) ([]sample, error) {
	var tun *transparent.Tunnel
	steps := []struct {
		op string
		fn func() error
	}{
		{opUp, func() (err error) {
			// New is timed with Up: a fresh process pays for both, as
			// wg-quick pays for parsing its file.
			if tun, err = transparent.New(r.cfg, transparent.WithNetNS(r.w.a.Path)); err != nil {
				return err
			}
			return tun.Up(ctx)
		}},
		{opNoop, func() error { return tun.Up(ctx) }},
		{opChange, func() error {
			if err := tun.SetConfig(r.changedCfg); err != nil {
				return err
			}
			return tun.Up(ctx)
		}},
		{opDown, func() error { return tun.Down(ctx) }},
	}
	defer func() {
		if tun != nil {
			tun.Down(ctx) // after a failure: leave nothing running in A
			tun.Close()
		}
	}()
	var out []sample
	for _, s := range steps {
		smp, err := r.measure("library", s.op, s.fn)
		if err != nil {
			return out, fmt.Errorf("library %s: %w", s.op, err)
		}
		out = append(out, smp)
	}
	return out, nil
}
