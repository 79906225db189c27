// Command soak runs the soak of issue 23 in long form: a running tunnel
// (Watch) in the article's world (namespaces) through thousands of drift
// repairs, DNS answer changes, failovers and failbacks, reloads, and
// floods of foreign route changes that overflow Watch's netlink socket,
// sampling goroutines, open files, RSS and heap. It writes samples.csv
// and summary.md into -out and exits 1 when a promise broke. Run it as
// root, through bench/soak.sh, which also plots the samples.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/soak"
	"github.com/wgtransparent/transparent/internal/testns"
)

func main() {
	var o soak.Options
	flag.IntVar(&o.Drifts, "drifts", 10000, "drift repairs, cycling through every kind (one round each)")
	flag.IntVar(&o.DNS, "dns", 1000, "DNS answer changes")
	flag.IntVar(&o.Failovers, "failovers", 1000, "failovers, each with its failback")
	flag.IntVar(&o.Reloads, "reloads", 100, "reloads (SetConfig and Up, alternating two configs)")
	flag.IntVar(&o.Flood, "flood", 100000, "foreign route changes, in bursts that overflow Watch's socket")
	flag.DurationVar(&o.SampleEvery, "every", 5*time.Second, "time between samples")
	out := flag.String("out", "bench/results/soak", "directory for samples.csv and summary.md")
	flag.Parse()
	if err := run(o, *out); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(o soak.Options, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	s := &testns.Session{}
	defer s.Close()
	o.Backend = transparent.BackendAuto
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	o.Progress = func(sm soak.Sample) {
		fmt.Printf("%7.1fs round %d: %d goroutines, %d fds, RSS %.1f MiB, heap %.2f MiB, %+v\n",
			sm.At.Seconds(), sm.Round, sm.Goroutines, sm.FDs, float64(sm.RSS)/(1<<20), float64(sm.Heap)/(1<<20), sm.Counts)
	}
	res, err := soak.Run(s, o)
	if res != nil && len(res.Samples) > 0 {
		f, ferr := os.Create(filepath.Join(out, "samples.csv"))
		if ferr != nil {
			return ferr
		}
		soak.WriteCSV(f, res.Samples)
		f.Close()
	}
	if err != nil {
		return err
	}
	summary := fmt.Sprintf(`# Soak

| | |
|---|---|
| wall time | %s |
| drift repairs | %d (%v) |
| DNS answer changes | %d |
| failovers and failbacks | %d |
| reloads | %d |
| foreign route changes | %d in %d floods |
| resyncs after an overflow | %d |
| goroutines (warm-up, end) | %d, %d |
| open fds (warm-up, end) | %d, %d |
| Go heap after GC, MiB (warm-up, end) | %.2f, %.2f |
| RSS, MiB (warm-up, end, peak) | %.1f, %.1f, %.1f |
| broken promises | %d %v |
`, res.Elapsed.Round(time.Second), res.Counts.Drifts, res.ByKind, res.Counts.DNS, res.Counts.Failovers, res.Counts.Reloads,
		res.Counts.Flood, res.Counts.FloodBursts, res.Counts.Resyncs,
		res.Baseline.Goroutines, res.Final.Goroutines, res.Baseline.FDs, res.Final.FDs,
		float64(res.Baseline.Heap)/(1<<20), float64(res.Final.Heap)/(1<<20),
		float64(res.Baseline.RSS)/(1<<20), float64(res.Final.RSS)/(1<<20), peakRSS(res.Samples)/(1<<20),
		len(res.Problems), res.Problems)
	fmt.Print(summary)
	if err := os.WriteFile(filepath.Join(out, "summary.md"), []byte(summary), 0o644); err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d broken promises", len(res.Problems))
	}
	return nil
}

func peakRSS(ss []soak.Sample) float64 {
	var m uint64
	for _, s := range ss {
		m = max(m, s.RSS)
	}
	return float64(m)
}
