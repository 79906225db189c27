package transparent_test

import (
	"context"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestFailoverRollsBackAtEveryWrite fails the k-th kernel write, for every
// k, of a kill-switch Up from nothing (dual stack) and of the Up that
// blocks the peer and the one that brings it back: each time Up undoes
// what it wrote, and the namespace and device are as before.
func TestFailoverRollsBackAtEveryWrite(t *testing.T) {
	w := newFailoverArticle(t)
	ctx := context.Background()
	cfg, _ := ends{fams: []family{ipv4, ipv6}}.configs(w)
	cfg.Peers[0].Fallback = transparent.FallbackBlock
	tun := newTunnel(t, cfg, w.A)
	key := cfg.Peers[0].PublicKey
	for _, step := range []struct {
		name   string
		before func() error // brings the tunnel to the state the Up starts from
	}{
		{"from nothing", func() error { return nil }},
		{"block", func() error { return transparent.SetPeerState(ctx, tun, key, transparent.PeerBlocked) }},
		{"unblock", func() error { return transparent.SetPeerState(ctx, tun, key, transparent.PeerThroughTunnel) }},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.name != "from nothing" {
				if err := tun.Up(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := step.before(); err != nil {
				t.Fatal(err)
			}
			failEveryWrite(t, tun, w.A)
		})
	}
}
