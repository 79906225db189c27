package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// cutResult is one cut and heal of the WireGuard path.
type cutResult struct {
	cutAt, healAt time.Time
	// failover: the first request sent after the cut that took the
	// fallback (over the Internet, or refused); failback: the first sent
	// after the heal that went through the tunnel again. Negative when
	// never (wg-quick never fails over).
	failover, failback time.Duration
	// stateFailover, stateFailback: from the cut (heal) to the judgement
	// recorded in the tunnel's record (its Since); zero for wg-quick.
	stateFailover, stateFailback time.Duration
	lost, refused, internet      int // requests sent from this cut to the next
	leaked                       int // plain packets to B's public address, counted at the router
}

// schedule is how long each cut lasts and how long a heal may take.
type schedule struct {
	cuts    int
	cut     time.Duration // the path is cut this long
	maxHeal time.Duration // after the heal, wait at most this long for the tunnel
	gap     time.Duration // then this long through the tunnel before the next cut
}

// runCuts cuts and heals the path s.cuts times while the client runs;
// tun is A's library tunnel (nil for wg-quick) and want the outcome its
// fallback gives.
func runCuts(ctx context.Context, w *world, s schedule, c *client, tun *transparent.Tunnel, want outcome) ([]cutResult, error) {
	var out []cutResult
	for i := range s.cuts {
		p0, err := w.plain()
		if err != nil {
			return out, err
		}
		r := cutResult{cutAt: time.Now(), failover: -1, failback: -1}
		if err := w.cut(); err != nil {
			return out, err
		}
		time.Sleep(s.cut)
		if tun != nil {
			r.stateFailover = stateSince(ctx, tun, transparent.PeerThroughTunnel, false).Sub(r.cutAt)
		}
		r.healAt = time.Now()
		if err := w.heal(); err != nil {
			return out, err
		}
		deadline := r.healAt.Add(s.maxHeal)
		for time.Now().Before(deadline) {
			if slices.ContainsFunc(c.since(r.healAt), func(q request) bool { return q.outcome == viaTunnel }) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if tun != nil {
			for time.Now().Before(deadline) && stateSince(ctx, tun, transparent.PeerThroughTunnel, true).IsZero() {
				time.Sleep(50 * time.Millisecond)
			}
			if t := stateSince(ctx, tun, transparent.PeerThroughTunnel, true); !t.IsZero() {
				r.stateFailback = t.Sub(r.healAt)
			}
		}
		time.Sleep(s.gap)
		p1, err := w.plain()
		if err != nil {
			return out, err
		}
		r.leaked = p1 - p0
		out = append(out, r)
		fmt.Fprintf(os.Stderr, "  cut %d/%d done\n", i+1, s.cuts)
	}
	// Give the last requests their timeout, then read them all.
	time.Sleep(c.timeout + 100*time.Millisecond)
	for i := range out {
		end := time.Now()
		if i+1 < len(out) {
			end = out[i+1].cutAt
		}
		for _, q := range c.since(out[i].cutAt) {
			if !q.t.Before(end) {
				break
			}
			switch q.outcome {
			case lost:
				out[i].lost++
			case refused:
				out[i].refused++
			case viaInternet:
				out[i].internet++
			}
			if q.outcome == want && out[i].failover < 0 && q.t.Before(out[i].healAt) {
				out[i].failover = q.t.Sub(out[i].cutAt)
			}
			if q.outcome == viaTunnel && out[i].failback < 0 && !q.t.Before(out[i].healAt) {
				out[i].failback = q.t.Sub(out[i].healAt)
			}
		}
	}
	return out, nil
}

// stateSince returns when the peer's recorded state began, if the state
// is through the tunnel (in true) or out of it (in false); the zero time
// otherwise.
func stateSince(ctx context.Context, tun *transparent.Tunnel, s transparent.PeerState, in bool) time.Time {
	hs, err := tun.Health(ctx)
	if err != nil || len(hs) == 0 {
		return time.Time{}
	}
	if (hs[0].State == s) == in {
		return hs[0].Since
	}
	return time.Time{}
}

// libraryRun brings A up with the library and fallback f, runs Watch (as
// wg-transparent run does) and the cuts, and brings A down.
func libraryRun(ctx context.Context, w *world, s schedule, f transparent.Fallback, interval, timeout time.Duration) ([]cutResult, []request, error) {
	tun, err := transparent.New(w.configA(f), transparent.WithNetNS(w.A.Path))
	if err != nil {
		return nil, nil, err
	}
	defer tun.Close()
	if err := tun.Up(ctx); err != nil {
		return nil, nil, fmt.Errorf("up A: %w", err)
	}
	defer tun.Down(context.Background())
	wctx, stop := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- tun.Watch(wctx) }()
	defer func() { stop(); <-watched }()
	return withClient(ctx, w, s, tun, map[transparent.Fallback]outcome{transparent.FallbackInternet: viaInternet, transparent.FallbackBlock: refused}[f], interval, timeout)
}

// withClient waits for the tunnel to carry a request, then runs the
// client during the cuts.
func withClient(ctx context.Context, w *world, s schedule, tun *transparent.Tunnel, want outcome, interval, timeout time.Duration) ([]cutResult, []request, error) {
	c := &client{ns: w.A, interval: interval, timeout: timeout}
	deadline := time.Now().Add(30 * time.Second)
	for c.one(time.Now()) != viaTunnel {
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("no request through the tunnel within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() { c.run(cctx); close(done) }()
	time.Sleep(2 * time.Second) // a stretch through the tunnel before the first cut
	res, err := runCuts(ctx, w, s, c, tun, want)
	stop()
	<-done
	return res, c.since(start), err
}

// wgQuickRun brings A up with wg-quick (the same tunnel, rendered as a
// plain wg-quick file, with the userspace wireguard-go) and runs the
// same cuts.
func wgQuickRun(ctx context.Context, w *world, s schedule, tmp, wgQuick, wireguardGo string, interval, timeout time.Duration) ([]cutResult, []request, error) {
	file := filepath.Join(tmp, w.nameA+".conf")
	if err := os.WriteFile(file, wgquick.Render(&wgquick.File{Config: w.configA(transparent.FallbackNone)}), 0o600); err != nil {
		return nil, nil, err
	}
	run := func(verb string) error {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", w.A.Name, wgQuick, verb, file)
		cmd.Env = append(os.Environ(), "WG_QUICK_USERSPACE_IMPLEMENTATION="+wireguardGo, "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1")
		log, err := os.CreateTemp(tmp, "wg-quick-*.log")
		if err != nil {
			return err
		}
		defer log.Close()
		cmd.Stdout, cmd.Stderr = log, log // a file: the daemonized wireguard-go keeps its descriptors
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Run(); err != nil {
			out, _ := os.ReadFile(log.Name())
			return fmt.Errorf("wg-quick %s: %w\n%s", verb, err, out)
		}
		return nil
	}
	if err := run("up"); err != nil {
		return nil, nil, err
	}
	defer run("down")
	return withClient(ctx, w, s, nil, viaInternet, interval, timeout)
}
