package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// report gathers the runs and writes them.
type report struct {
	schedule          schedule
	interval, timeout time.Duration
	plotCuts          int
	modes             []string
	cuts              map[string][]cutResult
	reqs              map[string][]request
	kill              *killResult
	cpu               []cpuResult
}

func (r *report) add(mode string, res []cutResult, reqs []request) {
	if r.cuts == nil {
		r.cuts, r.reqs = map[string][]cutResult{}, map[string][]request{}
	}
	r.modes = append(r.modes, mode)
	r.cuts[mode], r.reqs[mode] = res, reqs
}

// stats are the median, 95th percentile and maximum of the durations
// that happened (non-negative), and how many did not.
type stats struct {
	median, p95, max time.Duration
	n, never         int
}

func durStats(ds []time.Duration) stats {
	var s stats
	var ok []time.Duration
	for _, d := range ds {
		if d < 0 {
			s.never++
			continue
		}
		ok = append(ok, d)
	}
	s.n = len(ok)
	if len(ok) == 0 {
		return s
	}
	slices.Sort(ok)
	s.median = ok[len(ok)/2]
	if len(ok)%2 == 0 {
		s.median = (ok[len(ok)/2-1] + ok[len(ok)/2]) / 2
	}
	s.p95 = ok[min(len(ok)-1, (len(ok)*95+99)/100-1)] // nearest rank
	s.max = ok[len(ok)-1]
	return s
}

func (s stats) String() string {
	if s.n == 0 {
		return fmt.Sprintf("never (%d of %d)", s.never, s.never)
	}
	out := fmt.Sprintf("%.2f / %.2f / %.2f", s.median.Seconds(), s.p95.Seconds(), s.max.Seconds())
	if s.never > 0 {
		out += fmt.Sprintf(" (never in %d)", s.never)
	}
	return out
}

func (r *report) write(dir string) error {
	var csv, md, tl, win strings.Builder
	csv.WriteString("mode,cut,failover_s,failback_s,state_failover_s,state_failback_s,lost,refused,internet,leaked\n")
	tl.WriteString("mode,t_s,outcome_code,outcome\n")
	win.WriteString("mode,start_s,end_s\n")
	fmt.Fprintf(&md, "Cuts: %d per mode, each %s long, then healed (a request through the tunnel awaited, at most %s, then %s more); a request every %s with a %s timeout.\n\n",
		r.schedule.cuts, r.schedule.cut, r.schedule.maxHeal, r.schedule.gap, r.interval, r.timeout)
	md.WriteString("| Mode | Failover s (median / p95 / max) | Failback s (median / p95 / max) | Judged: failover / failback s (median / max) | Requests lost per cut (median / max / total) | Refused (total) | Leaked unencrypted (total) |\n|---|---|---|---|---|---|---|\n")
	for _, m := range r.modes {
		res := r.cuts[m]
		var fo, fb, sfo, sfb []time.Duration
		var lostN []int
		total := [3]int{}
		for i, c := range res {
			fo, fb = append(fo, c.failover), append(fb, c.failback)
			if c.stateFailover > 0 {
				sfo = append(sfo, c.stateFailover)
			}
			if c.stateFailback > 0 {
				sfb = append(sfb, c.stateFailback)
			}
			lostN = append(lostN, c.lost)
			total[0] += c.lost
			total[1] += c.refused
			total[2] += c.leaked
			fmt.Fprintf(&csv, "%s,%d,%.3f,%.3f,%.3f,%.3f,%d,%d,%d,%d\n", m, i+1, c.failover.Seconds(), c.failback.Seconds(), c.stateFailover.Seconds(), c.stateFailback.Seconds(), c.lost, c.refused, c.internet, c.leaked)
		}
		slices.Sort(lostN)
		medLost, maxLost := 0, 0
		if len(lostN) > 0 {
			medLost, maxLost = lostN[len(lostN)/2], lostN[len(lostN)-1]
		}
		judged := "n/a"
		if len(sfo) > 0 {
			a, b := durStats(sfo), durStats(sfb)
			judged = fmt.Sprintf("%.2f / %.2f; %.2f / %.2f", a.median.Seconds(), a.max.Seconds(), b.median.Seconds(), b.max.Seconds())
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %d / %d / %d | %d | %d |\n", label(m), durStats(fo), durStats(fb), judged, medLost, maxLost, total[0], total[1], total[2])
		// The timeline: the first plotCuts cuts, from 2 s before the first.
		if len(res) == 0 {
			continue
		}
		t0 := res[0].cutAt
		end := res[min(r.plotCuts, len(res))-1].healAt.Add(6 * time.Second)
		if r.plotCuts < len(res) {
			end = res[r.plotCuts].cutAt
		}
		for _, q := range r.reqs[m] {
			if q.t.Before(t0.Add(-2*time.Second)) || !q.t.Before(end) {
				continue
			}
			fmt.Fprintf(&tl, "%s,%.3f,%d,%s\n", m, q.t.Sub(t0).Seconds(), 3-int(q.outcome), q.outcome)
		}
		for _, c := range res[:min(r.plotCuts, len(res))] {
			fmt.Fprintf(&win, "%s,%.3f,%.3f\n", m, c.cutAt.Sub(t0).Seconds(), c.healAt.Sub(t0).Seconds())
		}
	}
	md.WriteString("\nFailover: from the cut to the first request that took the fallback (over the Internet, or refused at once); failback: from the heal to the first request through the tunnel again; judged: from the cut (heal) to the state the health check recorded. Lost: requests without an answer, from this cut to the next.\n")
	if k := r.kill; k != nil {
		fmt.Fprintf(&md, "\nBlock mode, `wg-transparent run` SIGKILLed: afterwards %d requests refused, %d lost, %d answered; %d packets leaked unencrypted (counted at the router).\n", k.refused, k.lost, k.other, k.leaked)
	}
	if len(r.cpu) > 0 {
		md.WriteString("\n| Peers | CPU, health off (% of one core) | CPU, health on | Cost of the health check | CPU, all failed over | Cost, failed over |\n|---|---|---|---|---|---|\n")
		for _, c := range r.cpu {
			fmt.Fprintf(&md, "| %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", c.peers, 100*c.off, 100*c.on, 100*(c.on-c.off), 100*c.failed, 100*(c.failed-c.off))
		}
	}
	for name, text := range map[string]string{"cuts.csv": csv.String(), "summary.md": md.String(), "timeline.csv": tl.String(), "cutwin.csv": win.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func label(mode string) string {
	switch mode {
	case "internet":
		return "library, Fallback internet"
	case "block":
		return "library, Fallback block"
	}
	return mode + " (no failover)"
}
