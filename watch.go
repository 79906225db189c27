//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/netfilter"
)

// WatchDebounce is how long Watch waits after the last change the kernel
// reports before it runs Up: a burst of changes (someone's script, or
// Up's own writes) then costs one Up.
const WatchDebounce = 100 * time.Millisecond

// WatchPollInterval is how often Watch reads what the kernel announces no
// change of: the WireGuard device's settings (neither kernel WireGuard nor
// wireguard-go sends a notification when `wg set` changes them) and, with
// iptables-legacy, the SNAT chains. A second finds such drift well within
// the two seconds Watch aims at, for one device read that costs little
// next to it (see watchPollShare for large devices).
const WatchPollInterval = time.Second

// watchPollShare bounds the poll's cost: the next poll waits at least
// watchPollShare times as long as the last one took, so that the poll
// keeps to about 1% of a CPU however many allowed IPs the device holds.
// A device so large that one read takes more than a hundredth of
// WatchPollInterval is read less often, and its drift found later.
const watchPollShare = 100

// watchPollRetry is how long the poll waits, after a Repair of Watch
// failed, before drift it finds starts another: a drift that Up cannot
// repair (it refuses, say, a rule of someone else in its way) would
// otherwise fail an Up, and log it, every WatchPollInterval. Changes the
// kernel announces still start one at once.
const watchPollRetry = 30 * time.Second

// Watch keeps the tunnel as its config says until ctx is done: it runs
// Up, then again after every change to links, addresses, routes or rules
// in the tunnel's namespace (debounced by WatchDebounce). Up finds nothing
// to do after unrelated changes and after its own writes, so Watch
// settles. An Up that fails is logged and retried at the next change.
// When the kernel drops change notifications (ENOBUFS: another program's
// burst of changes overflowed the socket), Watch logs it, subscribes
// again and runs an Up, which observes the namespace afresh (counted in
// Stats' Resyncs).
// Changes to nf_tables objects (the SNAT rules of nf_tables and
// iptables-nft) are announced too. What the kernel does not announce,
// Watch reads every WatchPollInterval: the device's settings (private
// key, listen port, firewall mark, and each peer with its preshared key,
// endpoint, keepalive and allowed IPs) and, with iptables-legacy, the
// kernel's summary of the nat tables (one getsockopt), whose chains it
// reads when the summary changed, and every 30 s in any case; it runs Up
// only when they differ from what its last Up made. So drift of every
// kind is repaired within about two seconds, but for a legacy rule
// replaced by one of the same size: within 30 s. The read of a device
// with many allowed IPs takes longer, and is made less often, to keep
// the poll near 1% of a CPU.
//
// Each Up of Watch is a Repair: once this Tunnel has been up, a Down by
// another process (which removes the tunnel's record) ends Watch with
// ErrBroughtDown, changing nothing, while drift that leaves the record in
// place, a deleted link included, is repaired. Watch returns ctx's error,
// ErrBroughtDown, ErrClosed once the Tunnel is closed, or the error of
// subscribing to the changes.
//
// With peers that have a Fallback, Watch also judges their health every
// Health.Interval (one ICMP echo to each one's tunnel address through the
// link, and the device's receive counters) and, when a peer's judgement
// changes, records its new state and runs a Repair, which moves the
// peer's Transparent destinations out of the tunnel or back. Each
// transition is logged.
//
// With TransparentNames, Watch also wakes when a name's answer's TTL runs
// out or a grace period ends: it resolves the due names and,
// when the addresses to route changed, runs Up, which adds the new
// addresses and removes those whose grace period is over, a few steps
// rather than a rebuild. A name server that stops answering leaves the
// addresses as they are; Watch logs it and retries with backoff.
func (t *Tunnel) Watch(ctx context.Context) error {
	changed, lost, stop, err := t.k.Subscribe()
	if err != nil {
		return namespace.ExplainPermission(err)
	}
	defer func() { stop() }() // the last subscription's
	fwChanged, fwLost, stopFW, err := t.k.SubscribeFirewall()
	pollFirewall := err != nil
	if err != nil {
		stopFW = func() {}
		t.log.Info("watch: nf_tables changes are not announced here; the SNAT chains are read every poll instead", "err", err)
	}
	defer func() { stopFW() }()
	pollTimer := time.NewTimer(WatchPollInterval)
	defer pollTimer.Stop()
	var pollQuietUntil time.Time // after a failed Up, see watchPollRetry

	timer := time.NewTimer(0) // the first Up at once
	started := false
	defer timer.Stop()
	nameTimer := time.NewTimer(time.Hour)
	defer nameTimer.Stop()
	hw := newHealthWatch(t)
	healthTimer := time.NewTimer(time.Hour)
	defer healthTimer.Stop()
	armHealth := func() <-chan time.Time {
		d := hw.interval()
		if d == 0 {
			return nil
		}
		healthTimer.Reset(d)
		return healthTimer.C
	}
	healthC := armHealth()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			timer.Reset(WatchDebounce)
		case err := <-lost:
			// Receiving failed, ENOBUFS when a burst of changes overflowed
			// the socket: the kernel dropped notifications, so what changed
			// is unknown. Subscribe again and run an Up, which observes
			// everything afresh.
			stop()
			t.log.Warn("watch: lost the kernel's change notifications; subscribing again and running an up", "err", err)
			if changed, lost, stop, err = t.k.Subscribe(); err != nil {
				stop = func() {}
				return namespace.ExplainPermission(fmt.Errorf("watch: subscribe again after losing notifications: %w", err))
			}
			t.resyncs.Add(1)
			timer.Reset(WatchDebounce)
		case <-fwChanged:
			timer.Reset(WatchDebounce)
		case err := <-fwLost:
			// As for lost, but with nf_tables: without its notifications
			// the poll reads the SNAT chains instead.
			stopFW()
			t.log.Warn("watch: lost the nf_tables change notifications; subscribing again and running an up", "err", err)
			if fwChanged, fwLost, stopFW, err = t.k.SubscribeFirewall(); err != nil {
				fwChanged, fwLost, stopFW, pollFirewall = nil, nil, func() {}, true
				t.log.Info("watch: cannot subscribe to nf_tables changes again; the SNAT chains are read every poll instead", "err", err)
			}
			t.resyncs.Add(1)
			timer.Reset(WatchDebounce)
		case <-pollTimer.C:
			drift, took := t.pollDrift(pollFirewall)
			if drift && started && time.Now().After(pollQuietUntil) {
				timer.Reset(0)
			}
			pollTimer.Reset(max(WatchPollInterval, took*watchPollShare))
		case <-timer.C:
			err := t.watchUp(ctx)
			if ends(err) {
				return err
			}
			if err != nil {
				pollQuietUntil = time.Now().Add(watchPollRetry)
			} else {
				pollQuietUntil = time.Time{}
			}
			started = true
			if healthC == nil { // a config with a Fallback came with SetConfig
				healthC = armHealth()
			}
		case <-t.armNameTimer(nameTimer):
			if err := t.watchNames(ctx); ends(err) {
				return err
			}
		case <-healthC:
			if err := hw.tick(ctx); ends(err) {
				return err
			} else if err != nil && started {
				// A transition recorded but not applied: Watch's own Up
				// applies it (one that was not recorded is tried again at
				// the next interval).
				timer.Reset(WatchDebounce)
			}
			healthC = armHealth()
		}
	}
}

// ends reports whether err ends Watch: another process brought the
// tunnel down, or the Tunnel was closed.
func ends(err error) bool { return errors.Is(err, ErrBroughtDown) || errors.Is(err, ErrClosed) }

// watchUp is Watch's Up, a Repair: logged when it fails (Watch retries at
// the next change), counted as a drift repair when it wrote something to
// the tunnel this Tunnel had brought up (not the Up that brings it up).
// It returns the error.
func (t *Tunnel) watchUp(ctx context.Context) error {
	repaired, err := t.up(ctx, true)
	if err != nil && !ends(err) && ctx.Err() == nil {
		t.log.Error("watch: up failed; retrying at the next change", "err", err)
	}
	if repaired {
		t.repairs.Add(1)
	}
	return err
}

// made is what an Up made, as Watch's poll compares it: the config it
// applied (its names resolved, its layout chosen), and the SNAT chains
// with the firewall that holds them (none without SNAT).
type made struct {
	cfg  Config
	fw   netfilter.Driver
	snat []snatChain
	// stamps are the firewall's Stamps of the chains' families when the
	// chains were last known to be as they should be (at the end of the
	// Up, or at the last read that found them so), and read when; nil
	// when the firewall has none (netfilter.Stamper).
	stamps map[int]string
	read   time.Time
}

// fullReadEvery is how often the poll reads a Stamper's chains although
// their Stamps did not change: a rule replaced by one of the same size
// changes none, and is found then.
const fullReadEvery = 30 * time.Second

// madeBy is what an Up of c made, the kernel having been o before it.
func madeBy(c Config, o *observed) *made {
	m := &made{cfg: c}
	if o.fw != nil {
		m.fw, m.snat = o.fw, desiredSNAT(c, o.public)
	}
	return m
}

// stamp reads the Stamps of m's chains as they are now, known to be as
// they should be; nil when the firewall has none or one cannot be read.
func (m *made) stamp() {
	m.stamps, m.read = m.readStamps(), time.Now()
}

func (m *made) readStamps() map[int]string {
	st, ok := m.fw.(netfilter.Stamper)
	if !ok || len(m.snat) == 0 {
		return nil
	}
	stamps := map[int]string{}
	for _, w := range m.snat {
		s, err := st.Stamp(w.family)
		if err != nil {
			return nil
		}
		stamps[w.family] = s
	}
	return stamps
}

// pollDrift reads what the kernel announces no change of: the device's
// settings and, when firewall is true or the firewall announces nothing
// (netfilter.Announced), the SNAT chains. It reports whether they differ
// from what the last Up made, so that Up would change them, and how long
// the reading took. A read that fails is drift too: Up says why.
//
// The chains of a Stamper (iptables-legacy, read by running a process)
// are read only when their Stamps changed, or every fullReadEvery; took
// leaves that read out, as it leaves out the Ups that events cause: it
// measures what every poll costs, which sets how often Watch polls.
func (t *Tunnel) pollDrift(firewall bool) (drift bool, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.made
	if t.closed || m == nil {
		return false, 0
	}
	start := time.Now()
	dev, err := t.k.Device(m.cfg.Name)
	if err != nil || deviceDiff(m.cfg, dev) != nil {
		return true, time.Since(start)
	}
	if m.fw == nil || !firewall && netfilter.Announced(m.fw.Kind()) {
		return false, time.Since(start)
	}
	stamps := m.readStamps()
	took = time.Since(start)
	if stamps != nil && maps.Equal(stamps, m.stamps) && time.Since(m.read) < fullReadEvery {
		return false, took
	}
	drift = m.chainsDrifted()
	if stamps == nil { // read at every poll: a part of what each costs
		took = time.Since(start)
	}
	if !drift {
		m.stamps, m.read = stamps, time.Now()
	}
	return drift, took
}

// chainsDrifted reads m's SNAT chains and reports whether an Up would
// change them.
func (m *made) chainsDrifted() bool {
	var have []netfilter.ChainState
	for _, w := range m.snat {
		s, err := m.fw.ReadChain(w.family, m.cfg.Name)
		if err != nil {
			return true
		}
		have = append(have, s)
	}
	for _, s := range firewallSteps(m.fw, m.cfg.Name, m.snat, have) {
		if _, keep := s.(*keepStep); !keep {
			return true
		}
	}
	return false
}
