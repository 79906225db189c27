//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/wgtransparent/transparent/internal/health"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// healthWatch is the part of Watch that judges the peers with a Fallback:
// every Interval it reads the device once and, for each such peer, counts
// the interval a hit when the peer's receive counter rose since the last
// one (an echo reply, real traffic, a handshake), else a miss; then it
// sends the next probes. A judgement that changes is a transition: the
// peer's state goes into the tunnel's record, and Up applies it.
type healthWatch struct {
	t      *Tunnel
	probe  *prober
	hc     HealthCheck // the settings the judges were made with
	judges map[wgtypes.Key]*health.Judge
	rx     map[wgtypes.Key]int64 // the receive counter at the last tick
	warned string                // the last warning, logged once while it lasts
}

// warn logs a problem of the health check once while it lasts, not at
// every interval.
func (h *healthWatch) warn(msg string, err error) {
	if err == nil {
		h.warned = ""
		return
	}
	if s := msg + err.Error(); s != h.warned {
		h.warned = s
		h.t.log.Warn(msg, "err", err)
	}
}

func newHealthWatch(t *Tunnel) *healthWatch {
	return &healthWatch{t: t, probe: newProber(), judges: map[wgtypes.Key]*health.Judge{}, rx: map[wgtypes.Key]int64{}}
}

// interval returns the time to the next tick, or 0 when no peer has a
// Fallback (the health check sleeps).
func (h *healthWatch) interval() time.Duration {
	c, err := h.t.config()
	if err != nil || !slices.ContainsFunc(c.Peers, func(p Peer) bool { return p.Fallback != FallbackNone }) {
		return 0
	}
	return c.Health.WithDefaults().Interval
}

// tick judges the interval that ends now and sends the next probes. It
// returns ErrBroughtDown when a transition finds that another process
// brought the tunnel down (Watch ends).
func (h *healthWatch) tick(ctx context.Context) error {
	t := h.t
	c, err := t.config()
	if err != nil {
		return err
	}
	hc := c.Health.WithDefaults()
	now := time.Now()
	if hc != h.hc { // new thresholds (SetConfig): the judgements stand, the counts start again
		for k, j := range h.judges {
			h.judges[k] = health.Restore(hc.FailAfter, hc.RecoverAfter, j.Healthy(), j.Since())
		}
		h.hc = hc
	}
	dev, err := t.Device()
	h.warn("health: cannot read the device; every peer misses until it can", err)
	counters := map[wgtypes.Key]wgtypes.Peer{}
	if dev != nil {
		for _, p := range dev.Peers {
			counters[p.PublicKey] = p
		}
	}
	var rec *record
	recRead := false
	var addrs []netip.Addr
	for _, p := range c.Peers {
		if p.Fallback == FallbackNone {
			continue
		}
		j := h.judges[p.PublicKey]
		if j == nil {
			if !recRead { // a peer new to this Watch starts where the record says
				rec, recRead = h.t.lockedRecord(ctx), true
			}
			if pr, ok := rec.peerState(p.PublicKey); ok && pr.State != PeerThroughTunnel {
				j = health.Restore(hc.FailAfter, hc.RecoverAfter, false, pr.Since)
			} else {
				j = health.New(hc.FailAfter, hc.RecoverAfter, now)
			}
			h.judges[p.PublicKey] = j
		}
		dp, present := counters[p.PublicKey]
		last, seen := h.rx[p.PublicKey]
		h.rx[p.PublicKey] = dp.ReceiveBytes
		if present && !seen {
			addrs = append(addrs, probeAddrs(p)...)
			continue // the first reading: a baseline, no judgement
		}
		// A counter that went down belongs to a new device: anything in it
		// came since.
		hit := present && (dp.ReceiveBytes > last || dp.ReceiveBytes < last && dp.ReceiveBytes > 0)
		changed := j.Observe(hit, now)
		t.mu.Lock() // the judgement first: Health never reports it older than the record
		if t.fo.healthy == nil {
			t.fo.healthy = map[wgtypes.Key]bool{}
		}
		t.fo.healthy[p.PublicKey] = j.Healthy()
		t.mu.Unlock()
		if changed {
			if err := h.transition(ctx, c, p, j, dp); errors.Is(err, ErrBroughtDown) {
				return err
			}
		}
		// A healthy peer that was heard from this interval needs no probe
		// for the next: should nothing come then, that one miss is far
		// from FailAfter, and the probes resume. A peer that carries
		// traffic is then never probed, an idle one every other interval.
		// An unhealthy one is probed every interval, to recover in
		// RecoverAfter intervals.
		if !(hit && j.Healthy() && hc.FailAfter > 1) {
			addrs = append(addrs, probeAddrs(p)...)
		}
	}
	if len(addrs) > 0 && err == nil {
		h.warn("health: cannot send probes", h.probe.send(t.ns, c.Name, addrs))
	}
	return nil
}

// transition records and applies a changed judgement of peer p (with a
// Repair: a tunnel another process brought down stays down), and logs
// it.
func (h *healthWatch) transition(ctx context.Context, c Config, p Peer, j *health.Judge, dp wgtypes.Peer) error {
	t := h.t
	state := PeerThroughTunnel
	if !j.Healthy() {
		state = unhealthyState(p.Fallback)
	}
	if err := t.recordPeerState(ctx, peerRecord{PublicKey: p.PublicKey, State: state, Since: j.Since()}); err != nil {
		t.log.Error("health: cannot record the peer's state; its routes stay as they are", "peer", c.RedactKey(p.PublicKey), "state", state.String(), "err", err)
		return err
	}
	t.mu.Lock()
	if t.fo.counts == nil {
		t.fo.counts = map[wgtypes.Key][2]int{}
	}
	n := t.fo.counts[p.PublicKey]
	msg := "peer failed back into the tunnel"
	if state == PeerThroughTunnel {
		n[1]++
	} else {
		n[0]++
		msg = "peer failed over"
		if state == PeerBlocked {
			msg = "peer blocked"
		}
	}
	t.fo.counts[p.PublicKey] = n
	t.mu.Unlock()
	t.log.Info(msg, "peer", c.RedactKey(p.PublicKey), "state", state.String(), "since", j.Since(), "last_handshake", dp.LastHandshakeTime, "received", dp.ReceiveBytes)
	err := t.up(ctx, true)
	if err != nil && !errors.Is(err, ErrBroughtDown) && ctx.Err() == nil {
		t.log.Error("health: up after the transition failed; retrying at the next change", "peer", c.RedactKey(p.PublicKey), "state", state.String(), "err", err)
	}
	return err
}

// lockedRecord reads the tunnel's record under its lock; nil when there
// is none or it cannot be read (Up reports that).
func (t *Tunnel) lockedRecord(ctx context.Context) *record {
	end, err := t.begin(ctx, "health")
	if err != nil {
		return nil
	}
	defer end()
	rec, _ := t.readRecord()
	return rec
}

// recordPeerState writes a peer's state into the tunnel's record, under
// the tunnel's lock, for the next Up of any process to apply.
func (t *Tunnel) recordPeerState(ctx context.Context, pr peerRecord) error {
	end, err := t.begin(ctx, "health")
	if err != nil {
		return err
	}
	defer end()
	rec, err := t.readRecord()
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("record %s: the tunnel is not up", t.cfg.Name)
	}
	i := slices.IndexFunc(rec.Peers, func(x peerRecord) bool { return x.PublicKey == pr.PublicKey })
	if i < 0 {
		rec.Peers = append(rec.Peers, pr)
	} else {
		rec.Peers[i] = pr
	}
	return t.writeRecord(rec)
}
