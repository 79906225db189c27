//go:build linux

package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// Options are a soak's size and settings.
type Options struct {
	// Drifts is the number of drift repairs, cycling through every kind;
	// the soak has one round per drift, and spreads the rest over them.
	Drifts int
	// DNS is the number of times the name's answer moves.
	DNS int
	// Failovers is the number of failovers, each with its failback.
	Failovers int
	// Reloads is the number of SetConfig and Up, alternating two configs.
	Reloads int
	// Flood is the number of foreign route changes, in bursts that
	// overflow Watch's netlink socket, each followed at once by a drift.
	Flood int
	// SampleEvery is the time between samples (and at least one per
	// round); 0 means a second.
	SampleEvery time.Duration
	// Backend is A's and B's WireGuard backend.
	Backend transparent.Backend
	// Logger receives A's Tunnel's logs; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called with every sample.
	Progress func(Sample)
}

// Counts are what a soak has done.
type Counts struct {
	Drifts, DNS, Failovers, Reloads, Flood int
	FloodBursts                            int
	Resyncs                                int // Watch's, from Stats
	DriftRepairs                           int // Watch's own, from Stats (the soak calls Repair for the unannounced kinds)
}

// Result is a finished soak.
type Result struct {
	Counts   Counts
	Elapsed  time.Duration
	Samples  []Sample
	Baseline Sample // at the end of warm-up
	Final    Sample
	// ByKind counts the drift repairs of each kind.
	ByKind map[string]int
	// Problems are the broken promises; none means the soak passed.
	Problems []string
}

// warmUpShare is the share of rounds before the baseline sample: the
// first failover, reload and name change have made their one-time
// allocations by then.
const warmUpShare = 5

// heapSlack is the heap growth allowed after warm-up, in percent.
const heapSlack = 10

// due reports whether round r of rounds does one of n actions spread
// evenly over them.
func due(r, n, rounds int) bool { return (r+1)*n/rounds > r*n/rounds }

// Run builds the world in namespaces (cleaned up by t), runs A's Watch
// through the soak and judges it. Its error is the world's or a step's
// that could not be made; broken promises are in Result.Problems.
func Run(t testns.TB, o Options) (*Result, error) {
	if o.Drifts < 1 {
		return nil, fmt.Errorf("soak: Drifts %d: at least 1", o.Drifts)
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = time.Second
	}
	w, err := newWorld(t, o)
	if err != nil {
		return nil, err
	}
	fl, err := newFlooder(w.A)
	if err != nil {
		return nil, err
	}
	defer fl.close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := make(chan error, 1)
	go func() { watched <- w.a.Watch(ctx) }()
	res := &Result{ByKind: map[string]int{}}
	s := &run{w: w, fl: fl, res: res, watched: watched}
	if err := s.waitSettled("Watch's first up", nameAddrs[0], 30*time.Second); err != nil {
		return nil, err
	}

	start := time.Now()
	lastSample := time.Time{}
	warm := max(o.Drifts/warmUpShare, 1)
	for r := range o.Drifts {
		if err := s.round(ctx, r, o); err != nil {
			return res, fmt.Errorf("round %d: %w", r, err)
		}
		if r == warm-1 {
			if res.Baseline, err = s.quiet(start, r); err != nil {
				return res, err
			}
			res.Samples = append(res.Samples, res.Baseline)
			lastSample = time.Now()
			if o.Progress != nil {
				o.Progress(res.Baseline)
			}
		} else if time.Since(lastSample) >= o.SampleEvery {
			sm, err := sample(start, r+1, s.counts())
			if err != nil {
				return res, err
			}
			res.Samples = append(res.Samples, sm)
			lastSample = time.Now()
			if o.Progress != nil {
				o.Progress(sm)
			}
		}
	}
	if err := s.waitSettled("the end", s.nameNow(), 30*time.Second); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	if res.Final, err = s.quiet(start, o.Drifts); err != nil {
		return res, err
	}
	res.Samples = append(res.Samples, res.Final)
	res.Elapsed = time.Since(start)
	res.Counts = s.counts()
	cancel()
	if err := <-watched; !errors.Is(err, context.Canceled) {
		res.Problems = append(res.Problems, fmt.Sprintf("Watch ended with %v, want context.Canceled", err))
	}
	res.judge(o)
	return res, nil
}

// judge adds the broken promises to r.Problems.
func (r *Result) judge(o Options) {
	b, f := r.Baseline, r.Final
	if f.Goroutines > b.Goroutines {
		r.Problems = append(r.Problems, fmt.Sprintf("goroutines grew after warm-up: %d, then %d", b.Goroutines, f.Goroutines))
	}
	if f.FDs > b.FDs {
		r.Problems = append(r.Problems, fmt.Sprintf("open files grew after warm-up: %d, then %d", b.FDs, f.FDs))
	}
	if f.Heap*100 > b.Heap*(100+heapSlack) {
		r.Problems = append(r.Problems, fmt.Sprintf("the heap grew more than %d%% after warm-up: %.2f MiB, then %.2f MiB", heapSlack, float64(b.Heap)/(1<<20), float64(f.Heap)/(1<<20)))
	}
	c := r.Counts
	if c.Drifts != o.Drifts || c.DNS != o.DNS || c.Failovers != o.Failovers || c.Reloads != o.Reloads {
		r.Problems = append(r.Problems, fmt.Sprintf("did %+v, want %+v", c, o))
	}
	if c.FloodBursts > 0 && c.Resyncs == 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d floods of %d route changes and no resync: the socket never overflowed, or Watch did not notice", c.FloodBursts, c.Flood))
	}
}

// run is a soak under way.
type run struct {
	w       *world
	fl      *flooder
	res     *Result
	watched chan error
	c       Counts
	name    int // index in nameAddrs of the name's answer now
}

func (s *run) counts() Counts {
	c := s.c
	c.Flood = s.fl.changes
	st := s.w.a.Stats()
	c.Resyncs, c.DriftRepairs = st.Resyncs, st.DriftRepairs
	return c
}

func (s *run) nameNow() netip.Addr { return nameAddrs[s.name] }

// round is one drift and the other actions due.
func (s *run) round(ctx context.Context, r int, o Options) error {
	if bursts := o.Flood / (2 * floodBatch); bursts > 0 && due(r, bursts, o.Drifts) {
		if err := s.fl.burst(1); err != nil {
			return err
		}
		s.c.FloodBursts++
	}
	d := drifts[r%len(drifts)]
	if err := d.make(s.w); err != nil {
		return fmt.Errorf("drift %q: %w", d.name, err)
	}
	if !d.announced {
		if err := s.w.a.Repair(ctx); err != nil {
			return fmt.Errorf("repair %q: %w", d.name, err)
		}
	}
	if err := s.waitSettled("the repair of "+d.name, s.nameNow(), 20*time.Second); err != nil {
		return err
	}
	s.c.Drifts++
	s.res.ByKind[d.name]++

	if due(r, o.DNS, o.Drifts) {
		s.name = 1 - s.name
		s.w.dns.Set(soakName, 0, s.nameNow())
		if err := s.waitSettled("the name's new answer", s.nameNow(), 20*time.Second); err != nil {
			return err
		}
		s.c.DNS++
	}
	if due(r, o.Failovers, o.Drifts) {
		if err := s.failover(); err != nil {
			return err
		}
		s.c.Failovers++
	}
	if due(r, o.Reloads, o.Drifts) {
		cfg := s.w.cfgs[(s.c.Reloads+1)%2]
		if err := s.w.a.SetConfig(cfg); err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		if err := s.w.a.Up(ctx); err != nil {
			return fmt.Errorf("reload: up: %w", err)
		}
		if err := s.waitSettled("the reload", s.nameNow(), 20*time.Second); err != nil {
			return err
		}
		s.c.Reloads++
	}
	return nil
}

// failover cuts the WireGuard path until the peer fails over, then heals
// it until it comes back.
func (s *run) failover() error {
	if err := s.w.cut(); err != nil {
		return err
	}
	if err := s.waitState(transparent.PeerFailedOver, 20*time.Second); err != nil {
		s.w.heal()
		return err
	}
	if err := s.w.heal(); err != nil {
		return err
	}
	return s.waitState(transparent.PeerThroughTunnel, 30*time.Second)
}

func (s *run) waitState(want transparent.PeerState, within time.Duration) error {
	return s.poll(fmt.Sprintf("the peer %s", want), within, func() (bool, string) {
		hs, err := s.w.a.Health(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return len(hs) == 1 && hs[0].State == want, fmt.Sprintf("%+v", hs)
	})
}

// waitSettled waits until the peer is through the tunnel, Check finds
// nothing to do, and the name's answer now (only) is routed.
func (s *run) waitSettled(what string, answer netip.Addr, within time.Duration) error {
	old := nameAddrs[0]
	if answer == old {
		old = nameAddrs[1]
	}
	return s.poll(what, within, func() (bool, string) {
		if hs, err := s.w.a.Health(context.Background()); err != nil || len(hs) != 1 || hs[0].State != transparent.PeerThroughTunnel {
			return false, fmt.Sprintf("health %+v %v", hs, err)
		}
		if err := s.w.a.Check(context.Background()); err != nil {
			return false, err.Error()
		}
		has, err := s.routed(answer)
		if err != nil || !has {
			return false, fmt.Sprintf("the answer %s is not routed (%v)", answer, err)
		}
		if has, _ := s.routed(old); has {
			return false, fmt.Sprintf("the old answer %s is still routed", old)
		}
		return true, ""
	})
}

// routed reports whether a rule or a route of the tunnel's table leads
// to a.
func (s *run) routed(a netip.Addr) (bool, error) {
	h := s.w.A.Netlink()
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return false, err
	}
	for _, r := range rules {
		if r.Table == table && r.Dst != nil && r.Dst.IP.Equal(a.AsSlice()) {
			return true, nil
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, err
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.IP.Equal(a.AsSlice()) {
			return true, nil
		}
	}
	return false, nil
}

// pollEvery is the soak's polling interval: each poll is a full observe.
const pollEvery = 20 * time.Millisecond

// poll calls ok until it is true, or returns an error naming what did not
// happen within the time, and the last state.
func (s *run) poll(what string, within time.Duration, ok func() (bool, string)) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case err := <-s.watched:
			s.watched <- err
			return fmt.Errorf("waiting for %s: Watch ended: %v", what, err)
		default:
		}
		done, last := ok()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not happen within %s: %s", what, within, last)
		}
		time.Sleep(pollEvery)
	}
}

// quietTries and quietGap: a sample at a moment without a transient
// goroutine or file (a health probe's, a lookup's) is the least of a few.
const (
	quietTries = 10
	quietGap   = 50 * time.Millisecond
)

// quiet is the sample with the fewest goroutines and files among a few.
func (s *run) quiet(start time.Time, round int) (Sample, error) {
	var best Sample
	for i := range quietTries {
		sm, err := sample(start, round, s.counts())
		if err != nil {
			return sm, err
		}
		if i == 0 || sm.Goroutines+sm.FDs < best.Goroutines+best.FDs {
			best = sm
		}
		time.Sleep(quietGap)
	}
	return best, nil
}
