package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// plan prints what up would do, one object a line, and the count.
func (c *command) plan(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	plan, err := tun.Plan(ctx)
	if err != nil {
		return exitError, err
	}
	pending := 0
	for _, ch := range plan {
		if ch.Op != transparent.OpKeep {
			pending++
		}
	}
	if c.json {
		peers, err := peerStates(ctx, tun, f.Config)
		if err != nil {
			return exitError, err
		}
		return exitOK, writeJSON(c.stdout, planJSON{Interface: f.Config.Name, Changes: changesJSON(plan), Pending: pending, Peers: peers})
	}
	for _, ch := range plan {
		fmt.Fprintln(c.stdout, ch)
	}
	fmt.Fprintf(c.stdout, "%d changes\n", pending)
	return exitOK, nil
}

// check exits 0 in sync, 1 on drift (printing what up would change).
func (c *command) check(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	err := tun.Check(ctx)
	var drift *transparent.DriftError
	if err != nil && !errors.As(err, &drift) {
		return exitError, err
	}
	status := exitOK
	problem := ""
	if drift != nil {
		status = exitDrift
		if _, err := tun.Device(); errors.Is(err, transparent.ErrDeviceGone) {
			problem = c.goneText()
		}
	}
	peers, err := peerStates(ctx, tun, f.Config)
	if err != nil {
		return exitError, err
	}
	if c.json {
		out := checkJSON{Interface: f.Config.Name, InSync: drift == nil, Changes: []changeJSON{}, Peers: peers, Problem: problem}
		if drift != nil {
			out.Changes = changesJSON(drift.Changes)
		}
		if err := writeJSON(c.stdout, out); err != nil {
			return exitError, err
		}
		return status, nil
	}
	if drift == nil {
		fmt.Fprintln(c.stdout, "in sync:", c.file)
		printPeerStates(c.stdout, "  ", peers)
		return exitOK, nil
	}
	if problem != "" {
		fmt.Fprintf(c.stdout, "drift: %s\n", problem)
	}
	printPeerStates(c.stdout, "", peers)
	fmt.Fprintf(c.stdout, "drift: up would:\n")
	for _, ch := range drift.Changes {
		fmt.Fprintln(c.stdout, "  ", ch)
	}
	return exitDrift, nil
}
