// Command pktcost measures what a transparent tunnel costs the packets
// that do not use it (issue 15, docs/BENCHMARKS.md "Every other packet"):
// the kernel walks the policy rules on every route lookup of the host, so
// N per-destination rules slow down all of its traffic, where RulesTable
// keeps two rules per family whatever N.
//
// Three namespaces (internal/testns, named wgt-pktcost-<pid>-*): S, a host
// that sends through A as its router; A, where the tunnel runs; and O, the
// next hop outside, which drops the packets to 203.0.113.128/25 with a
// blackhole route (no ICMP). Two rates are measured, as packets that reach
// O per second: unconnected UDP sent from A to 203.0.113.200 (one route
// lookup in A per packet), and the same from S, forwarded by A. Each
// condition (tunnel up with one rule mode and N destinations, or a hub
// with many peers) is measured between two measurements with the tunnel
// down, and divided by their mean, so that the ratio comes from one
// stretch of time on a shared machine.
//
//	pktcost -n 0,1000,10000,100000 -t 1s -samples 3 -out DIR
//	pktcost -hub 1000 -out DIR
//
// bench/pktcost.sh builds and runs it and records the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/bench/internal/cli"
	"github.com/wgtransparent/transparent/internal/testns"
)

const (
	// maxN: the destinations are every other address of 198.18.0.0/15
	// and then of 100.64.0.0/10 (destAddr).
	maxN = 1 << 20
)

// condition is one state of A: the tunnel up with cfg.
type condition struct {
	name string
	cfg  transparent.Config
}

func main() {
	var (
		nList   = flag.String("n", "0,1000,10000,100000", "comma-separated numbers of transparent destinations")
		modes   = flag.String("modes", "table,destination", "rule modes: table (RulesTable), destination (RulesPerDestination)")
		maxDest = flag.Int("max-destination", 10000, "largest N in destination mode: its Up is O(N^2) in the kernel (about 200 s at 100000)")
		hub     = flag.Int("hub", 0, "instead of -n: A is a hub with this many peers, each with a transparent address of its own, in both rule modes and both exception modes")
		dur     = flag.Duration("t", time.Second, "length of one sample")
		samples = flag.Int("samples", 3, "samples per rate and state (the median is kept)")
		out     = flag.String("out", "bench/results/pktcost", "directory for raw.csv and summary.md")
		settleF = flag.Duration("settle", 2*time.Second, "pause after Up and after Down before measuring: the Go collector and the kernel's deferred work after a large Up compete for the same CPUs")
	)
	flag.Parse()
	settle = *settleF
	if os.Geteuid() != 0 {
		fatal(errors.New("pktcost creates network namespaces: run it as root"))
	}
	if *samples < 1 || *dur <= 0 {
		fatal(errors.New("-samples and -t: at least 1 and above 0"))
	}
	var conds []condition
	var err error
	if *hub > 0 {
		conds, err = hubConditions(*hub)
	} else {
		conds, err = destConditions(*nList, *modes, *maxDest)
	}
	if err != nil {
		fatal(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	handleSignals()

	w, err := newWorld()
	if err != nil {
		fatal(err)
	}
	raw, err := os.Create(filepath.Join(*out, "raw.csv"))
	if err != nil {
		fatal(err)
	}
	defer raw.Close()
	fmt.Fprintln(raw, "condition,state,rate,sample,pps")
	m := &meter{w: w, dur: *dur, samples: *samples, raw: raw}
	ctx := context.Background()
	start := time.Now()
	// A first, discarded, round: neighbours resolved, caches warm.
	for _, n := range []*testns.NS{w.a, w.s} {
		if _, err := m.rate(n); err != nil {
			fatal(err)
		}
	}
	down, err := m.measure("-", "down")
	if err != nil {
		fatal(err)
	}
	var results []result
	for _, c := range conds {
		r := result{cond: c.name, before: down}
		if r.up, r.upTime, r.rules, err = m.withTunnel(ctx, c); err != nil {
			fatal(fmt.Errorf("%s: %w", c.name, err))
		}
		if down, err = m.measure(c.name, "down"); err != nil {
			fatal(err)
		}
		r.after = down
		results = append(results, r)
		fmt.Printf("%s: %s (%s)\n", c.name, r.line(), time.Since(start).Round(time.Second))
	}
	if err := raw.Sync(); err != nil {
		fatal(err)
	}
	md := summary(results, *dur, *samples)
	path := filepath.Join(*out, "summary.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		fatal(err)
	}
	tool.Session.Close()
	fmt.Print(md)
	fmt.Printf("wrote %s and %s\n", raw.Name(), path)
}

// withTunnel brings the tunnel up in A with c, measures both rates and
// takes the tunnel down.
func (m *meter) withTunnel(ctx context.Context, c condition) (r rates, upTime time.Duration, rules int, err error) {
	c.cfg.Name = fmt.Sprintf("pkt%d", os.Getpid()%100000) // unique: the UAPI sockets are shared by all namespaces
	tun, err := transparent.New(c.cfg, transparent.WithNetNS(m.w.a.Path))
	if err != nil {
		return r, 0, 0, err
	}
	defer tun.Close()
	t0 := time.Now()
	if err := tun.Up(ctx); err != nil {
		return r, 0, 0, errors.Join(err, tun.Down(ctx))
	}
	upTime = time.Since(t0)
	if rules, err = m.w.rules(); err == nil {
		time.Sleep(settle)
		r, err = m.measure(c.name, "up")
	}
	if downErr := tun.Down(ctx); downErr != nil {
		return r, 0, 0, errors.Join(err, downErr)
	}
	time.Sleep(settle)
	return r, upTime, rules, err
}

// settle is the pause after Up and Down before measuring (-settle).
var settle time.Duration

// tool deletes the namespaces it made on a signal or a fatal error.
var tool = cli.New("pktcost")

func handleSignals()  { tool.HandleSignals() }
func fatal(err error) { tool.Fatal(err) }

func parseNs(s string) ([]int, error) { return cli.ParseSizes(s, "-n", 0, maxN, "destinations") }

// destConditions is the article's A with N destinations in each rule
// mode, destination mode up to maxDest.
func destConditions(nList, modes string, maxDest int) ([]condition, error) {
	ns, err := parseNs(nList)
	if err != nil {
		return nil, err
	}
	var rms []transparent.RuleMode
	for _, m := range strings.Split(modes, ",") {
		switch strings.TrimSpace(m) {
		case "table":
			rms = append(rms, transparent.RulesTable)
		case "destination":
			rms = append(rms, transparent.RulesPerDestination)
		default:
			return nil, fmt.Errorf("-modes: unknown %q; known: table, destination", m)
		}
	}
	var out []condition
	for _, n := range ns {
		for _, rm := range rms {
			if rm == transparent.RulesPerDestination && n > maxDest {
				fmt.Printf("skipping destination mode at N=%d (above -max-destination %d)\n", n, maxDest)
				continue
			}
			c, err := articleA(n, rm)
			if err != nil {
				return nil, err
			}
			out = append(out, condition{name: fmt.Sprintf("%s N=%d", rm, n), cfg: c})
		}
	}
	return out, nil
}

// hubConditions is the hub with peers peers in both rule modes and both
// exception modes.
func hubConditions(peers int) ([]condition, error) {
	var out []condition
	for _, rm := range []transparent.RuleMode{transparent.RulesTable, transparent.RulesPerDestination} {
		for _, ex := range []transparent.ExceptionMode{transparent.ExceptionPort, transparent.ExceptionFwMark} {
			c, err := hubConfig(peers, rm, ex)
			if err != nil {
				return nil, err
			}
			out = append(out, condition{name: fmt.Sprintf("hub %s %s peers=%d", rm, ex, peers), cfg: c})
		}
	}
	return out, nil
}

// median of a non-empty slice.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
