// Command wgbench times this library against wg-quick (with the userspace
// wireguard-go) on Endpoint A of the article, with N transparent
// destinations of one peer, in throwaway network namespaces: Up from
// nothing, a no-op Up, Up after replacing 10% of the destinations, and
// Down, with and without SNAT. It writes raw.csv, summary.csv and
// table.md to -out. Run it through bench/run.sh, which installs and
// builds what it needs; it must run as root.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bench is one run's settings and shared resources.
type bench struct {
	ns          []int
	snats       []bool
	impls       []string
	reps        int // timed repetitions for N ≤ 1000
	repsLarge   int // timed repetitions for N > largeN
	largeN      int
	countMaxN   int // largest N with a counting repetition
	cap         time.Duration
	stride      int
	settle      time.Duration
	out, tmp    string
	wireguardGo string
	ipPath      string
	wgQuickPath string
	keys        keys
	shim        *shim
	suffix      string // random hex in device names, unique per run
	nameB       string
}

// nameA is A's device for impl. Embedded and userspace devices serve
// their UAPI socket in /var/run/wireguard, shared by every namespace on
// the machine, so names carry the run's random suffix.
func (b *bench) nameA(impl string) string {
	if impl == "library" {
		return "wbl" + b.suffix
	}
	return "wbq" + b.suffix
}

func main() {
	log.SetFlags(log.Ltime)
	b, err := setup()
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(b.tmp)
	// Ctrl-C cancels the current operation; the deferred teardowns of the
	// round still run, so no namespace is left behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := b.run(ctx); err != nil {
		log.Fatal(err)
	}
}

func setup() (*bench, error) {
	b := &bench{}
	nList := flag.String("n", "1,10,100,1000,10000", "comma-separated numbers of transparent destinations")
	snatList := flag.String("snat", "off,outbound", "SNAT modes to run: off, outbound")
	implList := flag.String("impl", "library,wg-quick", "implementations to run")
	flag.IntVar(&b.reps, "reps", 5, "timed repetitions for N ≤ -large-n (plus one counting repetition)")
	flag.IntVar(&b.repsLarge, "reps-large", 3, "timed repetitions for N > -large-n (plus one counting repetition)")
	flag.IntVar(&b.largeN, "large-n", 1000, "largest N that gets -reps repetitions")
	flag.IntVar(&b.countMaxN, "count-max-n", 100000, "largest N with a counting repetition (processes counted through shims; it costs a whole extra round)")
	flag.DurationVar(&b.cap, "cap", 120*time.Second, "time cap per wg-quick command; over it, wg-quick is skipped at this and larger N")
	flag.IntVar(&b.stride, "stride", 1, "distance between destination addresses: 1 adjacent, 2 never adjacent (no prefix merging possible)")
	flag.DurationVar(&b.settle, "settle", 50*time.Millisecond, "quiet time that ends the counting of netlink notifications after an operation")
	flag.StringVar(&b.out, "out", "bench/results", "directory for raw.csv, summary.csv and table.md")
	flag.StringVar(&b.wireguardGo, "wireguard-go", "", "path of the wireguard-go binary for wg-quick (required with -impl wg-quick)")
	flag.Parse()

	var err error
	if b.ns, err = parseInts(*nList); err != nil {
		return nil, fmt.Errorf("-n: %w", err)
	}
	for _, s := range strings.Split(*snatList, ",") {
		switch s {
		case "off":
			b.snats = append(b.snats, false)
		case "outbound":
			b.snats = append(b.snats, true)
		default:
			return nil, fmt.Errorf("-snat: unknown mode %q (want off or outbound)", s)
		}
	}
	b.impls = strings.Split(*implList, ",")
	for _, impl := range b.impls {
		if impl != "library" && impl != "wg-quick" {
			return nil, fmt.Errorf("-impl: unknown implementation %q (want library or wg-quick)", impl)
		}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("wgbench needs root to create network namespaces; run bench/run.sh with sudo")
	}
	if slices.Contains(b.impls, "wg-quick") {
		if b.wireguardGo == "" {
			return nil, errors.New("-wireguard-go is required for wg-quick (bench/run.sh builds it)")
		}
		if b.wgQuickPath, err = exec.LookPath("wg-quick"); err != nil {
			return nil, fmt.Errorf("find wg-quick: %w (apt-get install wireguard-tools)", err)
		}
	}
	if b.ipPath, err = exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("find ip: %w (apt-get install iproute2)", err)
	}
	if b.keys, err = newKeys(); err != nil {
		return nil, fmt.Errorf("generate keys: %w", err)
	}
	suffix := make([]byte, 2)
	rand.Read(suffix)
	b.suffix = hex.EncodeToString(suffix)
	b.nameB = "wbb" + b.suffix
	if b.tmp, err = os.MkdirTemp("", "wgbench-"); err != nil {
		return nil, err
	}
	if b.shim, err = newShim(b.tmp); err != nil {
		return nil, err
	}
	return b, os.MkdirAll(b.out, 0o755)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 30000 {
			return nil, fmt.Errorf("%q is not a number from 1 to 30000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures every (SNAT, N, repetition, implementation), the
// implementations interleaved within a repetition so that a slow period
// of the machine hits both. Rows are written to raw.csv as they come, so
// an interrupted run keeps what it measured.
func (b *bench) run(ctx context.Context) error {
	raw, err := newRawWriter(filepath.Join(b.out, "raw.csv"))
	if err != nil {
		return err
	}
	defer raw.close()
	var all []sample
	for _, snat := range b.snats {
		capped := false // wg-quick went over the cap at a smaller N
		for _, n := range b.ns {
			first := 0
			if n > b.countMaxN {
				first = 1
			}
			for rep := first; rep <= b.repsFor(n); rep++ {
				for _, impl := range b.impls {
					if impl == "wg-quick" && capped {
						if rep == first {
							all = append(all, raw.add(skippedRound(snat, n)...)...)
						}
						continue
					}
					log.Printf("snat=%v N=%d rep=%d %s", snat, n, rep, impl)
					samples, err := runRound(ctx, b, impl, snat, n, rep)
					all = append(all, raw.add(samples...)...)
					if errors.Is(err, errCapped) {
						log.Printf("wg-quick over the %s cap at N=%d: skipped from here on", b.cap, n)
						capped = true
						continue
					}
					if err != nil {
						return fmt.Errorf("snat=%v N=%d rep=%d %s: %w", snat, n, rep, impl, err)
					}
					if ctx.Err() != nil {
						return ctx.Err()
					}
				}
			}
		}
	}
	return writeSummary(b, all)
}

// skippedRound is wg-quick's rows at an N it was not run at.
func skippedRound(snat bool, n int) []sample {
	var out []sample
	for _, op := range ops {
		status := statusSkipped
		if op == opNoop {
			status = statusNA
		}
		out = append(out, sample{impl: "wg-quick", snat: snat, n: n, op: op, counted: true, status: status})
	}
	return out
}
