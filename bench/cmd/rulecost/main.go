// Command rulecost measures what N IPv4 policy rules cost the kernel to add
// and to delete: the experiment behind "Why scattered destinations grow
// faster than N" in docs/BENCHMARKS.md (issue 7).
//
// Every measurement runs in a fresh network namespace (internal/testns,
// named wgt-rulecost-<pid>-<hex>) that rulecost deletes afterwards, also on
// error and on SIGINT/SIGTERM; it never touches the namespace it was started
// in. A variant adds N rules "to 198.18.x.y/32 table 123 priority 456"
// (198.18.0.1, .3, .5, ...: no two aggregate) in one way, or deletes them,
// and records the total time and the time of the first and of the last 1000
// operations: if every operation walks a list as long as what is already
// there, the last ones cost much more than the first ones.
//
//	rulecost -n 1000,10000 -reps 3 -variants ruleadd,noexcl,routes -out DIR
//
// bench/rulecost.sh builds and runs it, records the machine and, with
// perf(1), where the kernel spends an add.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netns"

	"github.com/wgtransparent/transparent/bench/internal/cli"
)

const (
	table    = 123 // the rules' table, as in the library's examples
	priority = 456 // the rules' priority, as in issue 7
	// window is the number of operations timed as "first" and "last", and
	// the number of requests per pipelined sendmsg.
	window = 1000
	// maxN: the destinations are every other address of 198.18.0.0/15,
	// then of 100.64.0.0/10 (scattered); rules above some 20000 take
	// minutes, routes do not.
	maxN = 200000
)

func main() {
	var (
		nList = flag.String("n", "1000,2000,5000,10000,20000", "comma-separated numbers of rules")
		reps  = flag.Int("reps", 3, "repetitions of each measurement")
		only  = flag.String("variants", "", "comma-separated variants (default all): "+strings.Join(variantNames(), ","))
		out   = flag.String("out", "bench/results/rulecost", "directory for raw.csv and summary.md")
		pause = flag.Duration("pause", 300*time.Millisecond, "pause after deleting each namespace (the kernel frees it in the background)")
	)
	flag.Parse()
	ns, err := parseNs(*nList)
	if err != nil {
		fatal(err)
	}
	chosen, err := pickVariants(*only)
	if err != nil {
		fatal(err)
	}
	if *reps < 1 {
		fatal(errors.New("-reps: at least 1"))
	}
	if os.Geteuid() != 0 {
		fatal(errors.New("rulecost creates network namespaces: run it as root"))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	// Per-operation times are in the microseconds; keep the collector out
	// of them as far as possible.
	debug.SetGCPercent(400)
	host, err := netns.Get()
	if err != nil {
		fatal(err)
	}
	defer host.Close()
	handleSignals()

	// The semantics first: what a duplicate add does with and without
	// NLM_F_EXCL (why the library keeps NLM_F_EXCL).
	dup, err := duplicateCheck(host)
	if err != nil {
		fatal(fmt.Errorf("duplicate check: %w", err))
	}
	fmt.Print(dup)

	raw, err := os.Create(filepath.Join(*out, "raw.csv"))
	if err != nil {
		fatal(err)
	}
	defer raw.Close()
	fmt.Fprintln(raw, "variant,n,rep,total_ns,first_ns,last_ns,window")
	var results []result
	start := time.Now()
	// Repetitions outermost and variants innermost, so that a load spike
	// on this shared machine hits all variants alike rather than one.
	for rep := 1; rep <= *reps; rep++ {
		for _, n := range ns {
			for _, v := range chosen {
				t, err := measure(host, v, n)
				if err != nil {
					fatal(fmt.Errorf("%s N=%d rep %d: %w", v.name, n, rep, err))
				}
				time.Sleep(*pause)
				results = append(results, result{variant: v.name, n: n, timing: t})
				fmt.Fprintf(raw, "%s,%d,%d,%d,%d,%d,%d\n", v.name, n, rep, t.total, t.first, t.last, t.ops)
			}
		}
		fmt.Printf("repetition %d/%d done after %s\n", rep, *reps, time.Since(start).Round(time.Second))
	}
	if err := raw.Sync(); err != nil {
		fatal(err)
	}
	md := summary(results, chosen, ns, *reps) + "\n" + dup
	path := filepath.Join(*out, "summary.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		fatal(err)
	}
	fmt.Print(md)
	fmt.Printf("wrote %s and %s\n", raw.Name(), path)
}

// measure runs one variant at one N in a world of its own.
func measure(host netns.NsHandle, v variant, n int) (timing, error) {
	w, err := newWorld(host)
	if err != nil {
		return timing{}, err
	}
	defer w.close()
	return v.run(w, n)
}

// tool deletes the namespaces it made on a signal or a fatal error.
var tool = cli.New("rulecost")

func handleSignals()  { tool.HandleSignals() }
func fatal(err error) { tool.Fatal(err) }

func parseNs(s string) ([]int, error) { return cli.ParseSizes(s, "-n", 1, maxN, "rules") }

func pickVariants(s string) ([]variant, error) {
	if s == "" {
		return variants, nil
	}
	var out []variant
	for _, name := range strings.Split(s, ",") {
		i := slices.IndexFunc(variants, func(v variant) bool { return v.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("-variants: unknown %q; known: %s", name, strings.Join(variantNames(), ","))
		}
		out = append(out, variants[i])
	}
	return out, nil
}

func variantNames() []string {
	var out []string
	for _, v := range variants {
		out = append(out, v.name)
	}
	return out
}
