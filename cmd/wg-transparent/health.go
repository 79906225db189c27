package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// peerStateJSON is one peer's failover state, as plan, check and show
// print it.
type peerStateJSON struct {
	PublicKey string `json:"public_key"`
	Fallback  string `json:"fallback"` // "none", "internet" or "block"
	State     string `json:"state"`    // "tunnel", "failed-over" or "blocked"
	Since     string `json:"since"`    // RFC 3339: when State began; "" when never recorded
	Healthy   bool   `json:"healthy"`  // the last judgement (from the state, in another process than run's)
}

// peerStates is each peer of cfg with its failover state, from the
// tunnel's record (Tunnel.Health): a peer without a Fallback is always
// through the tunnel.
func peerStates(ctx context.Context, tun *transparent.Tunnel, cfg transparent.Config) ([]peerStateJSON, error) {
	health, err := tun.Health(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[wgtypes.Key]transparent.PeerHealth{}
	for _, h := range health {
		byKey[h.PublicKey] = h
	}
	out := []peerStateJSON{}
	for _, p := range cfg.Peers {
		ps := peerStateJSON{PublicKey: cfg.RedactKey(p.PublicKey), Fallback: p.Fallback.String(), State: transparent.PeerThroughTunnel.String(), Healthy: true}
		if h, ok := byKey[p.PublicKey]; ok {
			ps.State, ps.Healthy, ps.Since = h.State.String(), h.Healthy, rfc3339(h.Since)
		}
		out = append(out, ps)
	}
	return out, nil
}

// rfc3339 writes t in UTC, "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// printPeerStates writes a line per peer with a Fallback: "peer KEY
// (fallback block): blocked since 2026-12-04T15:40:00Z (12s ago),
// unhealthy".
func printPeerStates(w io.Writer, indent string, states []peerStateJSON) {
	for _, s := range states {
		if s.Fallback == transparent.FallbackNone.String() {
			continue
		}
		fmt.Fprintf(w, "%speer %s (fallback %s): %s", indent, s.PublicKey, s.Fallback, s.State)
		if t, err := time.Parse(time.RFC3339, s.Since); err == nil {
			fmt.Fprintf(w, " since %s (%s ago)", s.Since, time.Since(t).Round(time.Second))
		}
		health := "healthy"
		if !s.Healthy {
			health = "unhealthy"
		}
		fmt.Fprintf(w, ", %s\n", health)
	}
}
