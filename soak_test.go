package transparent_test

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/soak"
	"github.com/wgtransparent/transparent/internal/testns"
)

// soakShort is the soak of the test command: every kind of drift six
// times, a few of everything else, and four floods that overflow Watch's
// socket; about half a minute.
var soakShort = soak.Options{Drifts: 36, DNS: 6, Failovers: 3, Reloads: 4, Flood: 4 * 4096}

// soakLong is issue 23's compressed long life, with
// WGTRANSPARENT_SOAK=long (or bench/soak.sh): hours.
var soakLong = soak.Options{Drifts: 10000, DNS: 1000, Failovers: 1000, Reloads: 100, Flood: 100000, SampleEvery: 10 * time.Second}

// TestSoak puts a running tunnel (Watch) through a compressed long life:
// drift of every kind (rule, route, address, link down, the device's peer
// changed, the SNAT table deleted), a Transparent name's answer moving,
// failovers and failbacks with the WireGuard path cut at the router,
// reloads alternating two configs, and floods of foreign route changes
// that overflow Watch's netlink socket, each followed at once by a drift
// whose notification the kernel dropped. Every drift is repaired, each
// overflow is followed by a resync (Stats' Resyncs), and after warm-up
// the goroutines and open files do not grow at all and the heap by at
// most 10%. WGTRANSPARENT_SOAK=long runs the long form;
// WGTRANSPARENT_SOAK_OUT=file writes the samples there as CSV.
func TestSoak(t *testing.T) {
	testns.RequireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is not installed: run the tests through ./test.sh, which installs it")
	}
	o := soakShort
	if os.Getenv("WGTRANSPARENT_SOAK") == "long" {
		o = soakLong
	}
	o.Backend = testBackend()
	logs := &syncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if testing.Verbose() {
		o.Progress = func(s soak.Sample) {
			t.Logf("%6.1fs round %d: %d goroutines, %d fds, RSS %.1f MiB, heap %.2f MiB, %+v",
				s.At.Seconds(), s.Round, s.Goroutines, s.FDs, float64(s.RSS)/(1<<20), float64(s.Heap)/(1<<20), s.Counts)
		}
	}
	res, err := soak.Run(t, o)
	if res != nil && len(res.Samples) > 0 {
		if out := os.Getenv("WGTRANSPARENT_SOAK_OUT"); out != "" {
			f, ferr := os.Create(out)
			if ferr != nil {
				t.Fatal(ferr)
			}
			soak.WriteCSV(f, res.Samples)
			f.Close()
		}
	}
	if err != nil {
		t.Fatalf("soak: %v\nlogs:\n%s", err, tail(logs.String(), 40))
	}
	t.Logf("%s: %+v; repairs by kind %v; baseline %d goroutines, %d fds, heap %.2f MiB; final %d, %d, %.2f MiB",
		res.Elapsed.Round(time.Second), res.Counts, res.ByKind, res.Baseline.Goroutines, res.Baseline.FDs, float64(res.Baseline.Heap)/(1<<20),
		res.Final.Goroutines, res.Final.FDs, float64(res.Final.Heap)/(1<<20))
	for _, p := range res.Problems {
		t.Error(p)
	}
	if res.Counts.Resyncs > 0 && !strings.Contains(logs.String(), "lost the kernel's change notifications") {
		t.Errorf("%d resyncs and no log line about them", res.Counts.Resyncs)
	}
	if t.Failed() {
		t.Logf("logs:\n%s", tail(logs.String(), 40))
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("(%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
