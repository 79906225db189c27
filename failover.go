//go:build linux

package transparent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/wgtransparent/transparent/internal/health"
	"github.com/wgtransparent/transparent/internal/namespace"
	"golang.org/x/sys/unix"
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
		if pr, ok := r.stateOf(p); ok && pr.State != PeerThroughTunnel {
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
		if pr, ok := r.stateOf(p); ok {
			out = append(out, pr)
		}
	}
	return out
}

// stateOf is p's recorded state, with the state p's Fallback gives an
// unhealthy peer (the Fallback may have changed since it was recorded);
// ok is false when the record has none for p or p has no Fallback.
func (r *record) stateOf(p Peer) (pr peerRecord, ok bool) {
	if p.Fallback == FallbackNone {
		return peerRecord{}, false
	}
	pr, ok = r.peerState(p.PublicKey)
	if ok && pr.State != PeerThroughTunnel {
		pr.State = unhealthyState(p.Fallback)
	}
	return pr, ok
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
	dev, err := t.k.Device(t.cfg.Name)
	if err != nil {
		return nil, namespace.ExplainPermission(fmt.Errorf("health %s: %w", t.cfg.Name, err))
	}
	var out []PeerHealth
	for _, p := range t.cfg.Peers {
		if p.Fallback == FallbackNone {
			continue
		}
		h := PeerHealth{PublicKey: p.PublicKey, Fallback: p.Fallback, Healthy: true}
		if pr, ok := rec.stateOf(p); ok {
			h.Since = pr.Since
			if pr.State != PeerThroughTunnel {
				h.State, h.Healthy = pr.State, false
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
	return Stats{DriftRepairs: int(t.repairs.Load()), NameResolutions: int(t.lookups.Load()), Resyncs: int(t.resyncs.Load())}
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
		if pr, ok := rec.stateOf(p); ok {
			s = fmt.Sprintf("peer %s fallback %s: %s since %s", key, p.Fallback, pr.State, pr.Since.UTC().Format(time.RFC3339))
		}
		lines = append(lines, Change{Op: OpKeep, Step: s, Command: "# " + s})
	}
	return lines
}

// healthWatch is the part of Watch that judges the peers with a Fallback:
// every Interval it reads the device once and, for each such peer, counts
// the interval a hit when the peer's receive counter rose since the last
// one (an echo reply, real traffic, a handshake), else a miss; then it
// sends the next probes. A judgement that changes is a transition: the
// peer's state goes into the tunnel's record, and Up applies it.
type healthWatch struct {
	t *Tunnel
	// send sends probes to addrs through the link dev: a prober's, in
	// the tunnel's namespace.
	send   func(dev string, addrs []netip.Addr) error
	hc     HealthCheck // the settings the judges were made with
	judges map[wgtypes.Key]*health.Judge
	rx     map[wgtypes.Key]int64     // the receive counter at the last tick
	probed map[wgtypes.Key]time.Time // when the peer was last probed
	// recorded is each judged peer's state as the record has it: a
	// judgement that differs is a transition, at every tick until its
	// record write succeeds.
	recorded map[wgtypes.Key]PeerState
	// blind is set while the probes are not permitted (no probe socket
	// without CAP_NET_RAW): a quiet interval is then no miss, or every
	// idle peer would fail over, or be blocked. A link that is gone is
	// no such case: its peers miss.
	blind  bool
	warned map[string]string // each warning's last error, logged once while it lasts
}

// warn logs a problem of the health check (msg, one per kind of
// problem) once while it lasts, not at every interval.
func (h *healthWatch) warn(msg string, err error) {
	if err == nil {
		delete(h.warned, msg)
		return
	}
	if h.warned[msg] != err.Error() {
		h.warned[msg] = err.Error()
		h.t.log.Warn(msg, "err", err)
	}
}

func newHealthWatch(t *Tunnel) *healthWatch {
	p := newProber()
	return &healthWatch{t: t, send: func(dev string, addrs []netip.Addr) error { return p.send(t.k.InNamespace, dev, addrs) }, judges: map[wgtypes.Key]*health.Judge{}, rx: map[wgtypes.Key]int64{},
		probed: map[wgtypes.Key]time.Time{}, recorded: map[wgtypes.Key]PeerState{}, warned: map[string]string{}}
}

// unhealthyProbeInterval is how often an unhealthy peer that was not heard
// from in the last interval is probed. It is below WireGuard's 5 s
// handshake retry (REKEY_TIMEOUT), so a probe is always waiting when
// WireGuard tries again, which keeps its handshake attempts going; a dead
// peer then costs a probe per max(Interval, 4 s), and failback waits at
// most that long for the first probe after a heal.
const unhealthyProbeInterval = 4 * time.Second

// interval returns the time to the next tick, or 0 when no peer has a
// Fallback (the health check sleeps).
func (h *healthWatch) interval() time.Duration {
	c, err := h.t.config()
	if err != nil || !slices.ContainsFunc(c.Peers, func(p Peer) bool { return p.Fallback != FallbackNone }) {
		return 0
	}
	return c.Health.WithDefaults().Interval
}

// tick judges the interval that ends now and sends the next probes: to a
// healthy peer not heard from in this interval, and to an unhealthy one
// every unhealthyProbeInterval until it is heard from, then every interval
// (a dead peer costs little; a healed one recovers in RecoverAfter
// intervals after the first probe that gets through). It returns
// ErrBroughtDown when a transition finds that another process
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
	var changes []transition
	for _, p := range c.Peers {
		if p.Fallback == FallbackNone {
			continue
		}
		j := h.judges[p.PublicKey]
		if j == nil {
			if !recRead { // a peer new to this Watch starts where the record says
				rec, recRead = h.t.lockedRecord(ctx), true
			}
			h.recorded[p.PublicKey] = PeerThroughTunnel
			if pr, ok := rec.stateOf(p); ok && pr.State != PeerThroughTunnel {
				j = health.Restore(hc.FailAfter, hc.RecoverAfter, false, pr.Since)
				h.recorded[p.PublicKey] = pr.State
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
			h.probed[p.PublicKey] = now
			continue // the first reading: a baseline, no judgement
		}
		// A counter that went down belongs to a new device: anything in it
		// came since.
		hit := present && (dp.ReceiveBytes > last || dp.ReceiveBytes < last && dp.ReceiveBytes > 0)
		if hit || !h.blind {
			j.Observe(hit, now)
		}
		t.mu.Lock() // the judgement first: Health never reports it older than the record
		if t.fo.healthy == nil {
			t.fo.healthy = map[wgtypes.Key]bool{}
		}
		t.fo.healthy[p.PublicKey] = j.Healthy()
		t.mu.Unlock()
		if tr := (transition{peer: p, judge: j, dev: dp}); tr.state() != h.recorded[p.PublicKey] {
			changes = append(changes, tr)
		}
		// A healthy peer that was heard from this interval needs no probe
		// for the next: should nothing come then, that one miss is far
		// from FailAfter, and the probes resume. A peer that carries
		// traffic is then never probed, an idle one every other interval.
		// An unhealthy one is probed every unhealthyProbeInterval until it
		// is heard from, then every interval, to recover in RecoverAfter
		// intervals; the misses still count every interval.
		probe := !(hit && j.Healthy() && hc.FailAfter > 1)
		if !j.Healthy() && !hit && now.Sub(h.probed[p.PublicKey]) < unhealthyProbeInterval {
			probe = false
		}
		if probe {
			addrs = append(addrs, probeAddrs(p)...)
			h.probed[p.PublicKey] = now
		}
	}
	if len(addrs) > 0 && err == nil {
		serr := h.send(c.Name, addrs)
		h.blind = errors.Is(serr, os.ErrPermission)
		h.warn("health: cannot send probes (a raw socket needs CAP_NET_RAW); while they are not permitted, only traffic judges the peers", serr)
	}
	h.forgetRemoved(c)
	if len(changes) > 0 {
		return h.apply(ctx, c, changes)
	}
	return nil
}

// forgetRemoved drops what the health check keeps of peers that c no
// longer has with a Fallback (SetConfig removed them), so that a hub
// whose peers come and go keeps no more than it has.
func (h *healthWatch) forgetRemoved(c Config) {
	keys := make(map[wgtypes.Key]bool, len(c.Peers))
	for _, p := range c.Peers {
		if p.Fallback != FallbackNone {
			keys[p.PublicKey] = true
		}
	}
	judged := func(k wgtypes.Key) bool { return keys[k] }
	for k := range h.judges {
		if !judged(k) {
			delete(h.judges, k)
			delete(h.rx, k)
			delete(h.probed, k)
			delete(h.recorded, k)
		}
	}
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	maps.DeleteFunc(h.t.fo.healthy, func(k wgtypes.Key, _ bool) bool { return !judged(k) })
	maps.DeleteFunc(h.t.fo.counts, func(k wgtypes.Key, _ [2]int) bool { return !judged(k) })
}

// transition is a peer whose judgement changed in this interval.
type transition struct {
	peer  Peer
	judge *health.Judge
	dev   wgtypes.Peer // the device's view of it: handshake, counters
}

// state is the state the transition's judgement gives its peer.
func (tr transition) state() PeerState {
	if tr.judge.Healthy() {
		return PeerThroughTunnel
	}
	return unhealthyState(tr.peer.Fallback)
}

// apply records and applies the changed judgements of one interval: one
// record write and one Up (a Repair: a tunnel another process brought
// down stays down) for all of them, so that a hub whose peers all fail
// at once (its uplink cut) fails them over together, not one Up after
// another; each transition is counted and logged.
func (h *healthWatch) apply(ctx context.Context, c Config, changes []transition) error {
	t := h.t
	prs := make([]peerRecord, len(changes))
	for i, tr := range changes {
		prs[i] = peerRecord{PublicKey: tr.peer.PublicKey, State: tr.state(), Since: tr.judge.Since()}
	}
	// Counted before the record is written: whoever reads the new state
	// there (Health, the metrics) also finds the transition counted.
	count := func(by int) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.fo.counts == nil {
			t.fo.counts = map[wgtypes.Key][2]int{}
		}
		for _, tr := range changes {
			n := t.fo.counts[tr.peer.PublicKey]
			if tr.state() == PeerThroughTunnel {
				n[1] += by
			} else {
				n[0] += by
			}
			t.fo.counts[tr.peer.PublicKey] = n
		}
	}
	count(1)
	if err := t.recordPeerStates(ctx, prs); err != nil {
		count(-1)
		if !errors.Is(err, ErrBroughtDown) {
			t.log.Error("health: cannot record the peers' states; their routes stay as they are until the next interval tries again", "peers", len(prs), "err", err)
		}
		return err
	}
	for _, pr := range prs {
		h.recorded[pr.PublicKey] = pr.State
	}
	for _, tr := range changes {
		state := tr.state()
		msg := "peer failed back into the tunnel"
		switch state {
		case PeerFailedOver:
			msg = "peer failed over"
		case PeerBlocked:
			msg = "peer blocked"
		}
		t.log.Info(msg, "peer", c.RedactKey(tr.peer.PublicKey), "state", state.String(), "since", tr.judge.Since(), "last_handshake", tr.dev.LastHandshakeTime, "received", tr.dev.ReceiveBytes)
	}
	_, err := t.up(ctx, true)
	if err != nil && !errors.Is(err, ErrBroughtDown) && ctx.Err() == nil {
		t.log.Error("health: up after the transitions failed; retrying at the next change", "peers", len(changes), "err", err)
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

// recordPeerStates writes peers' states into the tunnel's record, under
// the tunnel's lock, for the next Up of any process to apply.
func (t *Tunnel) recordPeerStates(ctx context.Context, prs []peerRecord) error {
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
		if err := t.broughtDown(); err != nil {
			return err
		}
		return fmt.Errorf("record %s: the tunnel is not up", t.cfg.Name)
	}
	at := make(map[wgtypes.Key]int, len(rec.Peers))
	for i, x := range rec.Peers {
		at[x.PublicKey] = i
	}
	for _, pr := range prs {
		if i, ok := at[pr.PublicKey]; ok {
			rec.Peers[i] = pr
		} else {
			at[pr.PublicKey] = len(rec.Peers)
			rec.Peers = append(rec.Peers, pr)
		}
	}
	return t.writeRecord(rec)
}

// probeAddrs returns the addresses Watch probes for p: per IP family, the
// first single address (/32, /128) of its AllowedIPs outside its
// Transparent prefixes, its tunnel address. None means the peer cannot be
// probed (Validate refuses such a peer with a Fallback).
func probeAddrs(p Peer) []netip.Addr {
	var out []netip.Addr
	for _, a := range p.AllowedIPs {
		if !a.IsSingleIP() || prefixesContain(p.Transparent, a.Addr()) {
			continue
		}
		if !containsFamily(out, a.Addr()) {
			out = append(out, a.Addr())
		}
	}
	return out
}

func containsFamily(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x.Is4() == a.Is4() {
			return true
		}
	}
	return false
}

// prober sends the health probes: one ICMP echo request to each address,
// from raw sockets opened in the tunnel's namespace and bound to its link
// (SO_BINDTODEVICE), so that a probe leaves through the tunnel or not at
// all. It reads no answer: the device's receive counter tells whether
// anything came back.
type prober struct {
	id  uint16
	seq uint16
}

func newProber() *prober { return &prober{id: uint16(os.Getpid())} }

// send sends one echo request to each of addrs through the link called
// dev, in the tunnel's namespace (inNS runs a function there). A send that fails (the link is gone, no route)
// is no error of the health check: that probe is simply lost. The error is
// that of opening the sockets.
func (p *prober) send(inNS func(func() error) error, dev string, addrs []netip.Addr) error {
	p.seq++
	var fds [2]int // IPv4, IPv6
	defer func() {
		for _, fd := range fds {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	}()
	open := func(v6 bool) (int, error) {
		i := 0
		if v6 {
			i = 1
		}
		if fds[i] > 0 {
			return fds[i], nil
		}
		err := inNS(func() error {
			fam, proto := unix.AF_INET, unix.IPPROTO_ICMP
			if v6 {
				fam, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
			}
			fd, err := unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
			if err != nil {
				return err
			}
			// Nothing is read from the socket: the smallest buffer keeps
			// the namespace's other ICMP from piling up in it.
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
			if err := unix.BindToDevice(fd, dev); err != nil {
				unix.Close(fd)
				return err
			}
			fds[i] = fd
			return nil
		})
		return fds[i], err
	}
	var errs []error
	for _, a := range addrs {
		fd, err := open(a.Is6())
		if err != nil {
			errs = append(errs, fmt.Errorf("open probe socket on %s: %w", dev, err))
			continue
		}
		var sa unix.Sockaddr
		if a.Is4() {
			sa = &unix.SockaddrInet4{Addr: a.As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: a.As16()}
		}
		_ = unix.Sendto(fd, echoRequest(a.Is6(), p.id, p.seq), unix.MSG_DONTWAIT, sa) // lost probes are misses
	}
	return errors.Join(errs...)
}

// echoRequest is an ICMP (ICMPv6) echo request. The kernel fills in the
// ICMPv6 checksum of a raw socket; the ICMP one is computed here.
func echoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = 8 // echo request
	if v6 {
		b[0] = 128
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "wgtprobe")
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
