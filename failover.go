//go:build linux

package transparent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// peerRecord is a peer's state in the tunnel's record: where its
// Transparent destinations go, since when. A peer without one is through
// the tunnel.
type peerRecord struct {
	PublicKey wgtypes.Key
	State     PeerState
	Since     time.Time
}

// failoverState is what this Tunnel's Watch knows of its peers' health
// beyond the record: the last judgement and the transition counters.
type failoverState struct {
	healthy map[wgtypes.Key]bool
	counts  map[wgtypes.Key][2]int // failovers, failbacks
}

// peerState returns the recorded state of the peer with key k.
func (r *record) peerState(k wgtypes.Key) (peerRecord, bool) {
	if r == nil {
		return peerRecord{}, false
	}
	i := slices.IndexFunc(r.Peers, func(p peerRecord) bool { return p.PublicKey == k })
	if i < 0 {
		return peerRecord{}, false
	}
	return r.Peers[i], true
}

// failedPeers returns the peers of c that the record says are out of the
// tunnel (failed over or blocked): the planner's health input. A peer
// whose Fallback is none now is not among them.
func (r *record) failedPeers(c Config) map[wgtypes.Key]bool {
	var failed map[wgtypes.Key]bool
	for _, p := range c.Peers {
		if p.Fallback == FallbackNone {
			continue
		}
		if pr, ok := r.peerState(p.PublicKey); ok && pr.State != PeerThroughTunnel {
			if failed == nil {
				failed = map[wgtypes.Key]bool{}
			}
			failed[p.PublicKey] = true
		}
	}
	return failed
}

// peersFor returns the recorded peer states that still apply to c: those
// of its peers with a Fallback, with the state that Fallback gives an
// unhealthy peer.
func (r *record) peersFor(c Config) []peerRecord {
	var out []peerRecord
	for _, p := range c.Peers {
		if p.Fallback == FallbackNone {
			continue
		}
		if pr, ok := r.peerState(p.PublicKey); ok {
			if pr.State != PeerThroughTunnel {
				pr.State = unhealthyState(p.Fallback)
			}
			out = append(out, pr)
		}
	}
	return out
}

// withPeers is r with the peer states ps; nil stays nil (no layout, no
// record).
func (r *record) withPeers(ps []peerRecord) *record {
	if r == nil {
		return nil
	}
	out := *r
	out.Peers = ps
	return &out
}

// unhealthyState is the state of an unhealthy peer with fallback f.
func unhealthyState(f Fallback) PeerState {
	if f == FallbackBlock {
		return PeerBlocked
	}
	return PeerFailedOver
}

// Health reports the health of each peer with a Fallback, in the config's
// order: its state and since when, from the tunnel's record (so it works
// from another process than the one running Watch), with the device's
// handshake time and counters. Healthy is this Tunnel's last judgement,
// else what the state says. It changes nothing.
func (t *Tunnel) Health(ctx context.Context) ([]PeerHealth, error) {
	end, err := t.begin(ctx, "health")
	if err != nil {
		return nil, err
	}
	defer end()
	rec, err := t.readRecord()
	if err != nil {
		return nil, fmt.Errorf("health %s: %w", t.cfg.Name, err)
	}
	dev, err := t.k.device(t.cfg.Name)
	if err != nil {
		return nil, explainPermission(fmt.Errorf("health %s: %w", t.cfg.Name, err))
	}
	var out []PeerHealth
	for _, p := range t.cfg.Peers {
		if p.Fallback == FallbackNone {
			continue
		}
		h := PeerHealth{PublicKey: p.PublicKey, Fallback: p.Fallback, Healthy: true}
		if pr, ok := rec.peerState(p.PublicKey); ok {
			h.Since = pr.Since
			if pr.State != PeerThroughTunnel {
				h.State, h.Healthy = unhealthyState(p.Fallback), false
			}
		}
		if ok, judged := t.fo.healthy[p.PublicKey]; judged {
			h.Healthy = ok
		}
		c := t.fo.counts[p.PublicKey]
		h.Failovers, h.Failbacks = c[0], c[1]
		if dev != nil {
			for _, dp := range dev.Peers {
				if dp.PublicKey == p.PublicKey {
					h.LastHandshake = dp.LastHandshakeTime
					h.ReceiveBytes, h.TransmitBytes = dp.ReceiveBytes, dp.TransmitBytes
				}
			}
		}
		out = append(out, h)
	}
	return out, ctx.Err()
}

// Stats returns this Tunnel's counters.
func (t *Tunnel) Stats() Stats {
	return Stats{DriftRepairs: int(t.repairs.Load()), NameResolutions: int(t.lookups.Load())}
}

// peerStateLines are Plan's and Check's line per peer with a Fallback: its
// recorded state and since when ("peer KEY fallback block: tunnel since
// 2026-12-04T15:40:00Z"). A peer out of the tunnel is there by design, not
// drift: the lines are keeps.
func peerStateLines(c Config, rec *record) []Change {
	var lines []Change
	for _, p := range c.Peers {
		if p.Fallback == FallbackNone {
			continue
		}
		key := c.RedactKey(p.PublicKey)
		s := fmt.Sprintf("peer %s fallback %s: %s", key, p.Fallback, PeerThroughTunnel)
		if pr, ok := rec.peerState(p.PublicKey); ok {
			state := PeerThroughTunnel
			if pr.State != PeerThroughTunnel {
				state = unhealthyState(p.Fallback)
			}
			s = fmt.Sprintf("peer %s fallback %s: %s since %s", key, p.Fallback, state, pr.Since.UTC().Format(time.RFC3339))
		}
		lines = append(lines, Change{Op: OpKeep, Step: s, Command: "# " + s})
	}
	return lines
}
