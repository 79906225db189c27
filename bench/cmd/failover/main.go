// Command failover measures the failover of issue 20 in the article's
// world (internal/testns: a router joining A, B and C, each in its own
// namespace): the WireGuard path from A to B is cut at the router and
// healed, again and again, while a client on A requests B's public
// address every 100 ms, each request on a new connection with a 1 s
// timeout. For each cut it reports when requests took the fallback
// (over the Internet, or refused by the kill switch), when they went
// through the tunnel again after the heal, how many were lost, and (at
// the router) how many packets to B's public address left A unencrypted.
// The same cuts are made with A on wg-quick (the rendered file, userspace
// wireguard-go), which never fails over. In block mode, the process
// running A's embedded device (wg-transparent run) is also SIGKILLed.
// Last, the CPU cost of the health check: this process's CPU time per
// second of Watch with health off and on, for 1 peer and for a hub.
//
//	failover -cuts 20 -out DIR [-command wg-transparent] [-wg-quick wg-quick -wireguard-go PATH]
//	failover -short    # 5 cuts, a hub of 100, for a quick look
//
// bench/failover.sh builds and runs it, and plots the timeline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"path/filepath"
	"strings"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/bench/internal/cli"
)

func main() {
	var (
		cuts     = flag.Int("cuts", 20, "cuts and heals per mode")
		short    = flag.Bool("short", false, "a quick look: 5 cuts, a hub of 100 peers, 3 s of CPU measurement")
		cutLen   = flag.Duration("cut", 4*time.Second, "how long each cut lasts")
		maxHeal  = flag.Duration("max-heal", 30*time.Second, "after a heal, wait at most this long for a request through the tunnel")
		gap      = flag.Duration("gap", time.Second, "then this long before the next cut")
		interval = flag.Duration("interval", 100*time.Millisecond, "the client's interval between requests")
		timeout  = flag.Duration("timeout", time.Second, "the client's timeout per request")
		modes    = flag.String("modes", "internet,block,wg-quick", "what to cut: the library with Fallback internet, block, and wg-quick")
		hub      = flag.Int("hub", 1000, "peers of the hub whose health-check CPU cost is measured (0: none)")
		cpuDur   = flag.Duration("cpu", 10*time.Second, "CPU measurement per condition")
		settle   = flag.Duration("settle", 3*time.Second, "wait after Up before measuring CPU")
		command  = flag.String("command", "", "the wg-transparent binary, for the SIGKILL run in block mode (none: skipped)")
		wgQuick  = flag.String("wg-quick", "", "wg-quick, for the comparison (none: skipped)")
		wgGo     = flag.String("wireguard-go", "", "the userspace wireguard-go for wg-quick")
		killDur  = flag.Duration("kill", 3*time.Second, "how long the client runs after the SIGKILL")
		out      = flag.String("out", "bench/results/failover", "directory for cuts.csv, timeline.csv, cutwin.csv and summary.md")
		plotCuts = flag.Int("plot-cuts", 3, "cuts per mode in the timeline")
	)
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write the CPU profile of the hub with health on to this file")
	flag.Parse()
	if *short {
		*cuts, *hub, *cpuDur = 5, 100, 3*time.Second
	}
	tool := cli.New("failover")
	if os.Geteuid() != 0 {
		tool.Fatal(errors.New("it creates network namespaces: run it as root"))
	}
	tool.HandleSignals()
	ctx := context.Background()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		tool.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "wgfx-bench-")
	if err != nil {
		tool.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	s := schedule{cuts: *cuts, cut: *cutLen, maxHeal: *maxHeal, gap: *gap}
	rep := &report{schedule: s, interval: *interval, timeout: *timeout, plotCuts: *plotCuts}

	w, err := newWorld(ctx, tool.Session)
	if err != nil {
		tool.Fatal(err)
	}
	for _, m := range strings.Split(*modes, ",") {
		var res []cutResult
		var reqs []request
		if m == "" {
			continue
		}
		fmt.Fprintf(os.Stderr, "failover: %s, %d cuts of %s\n", m, s.cuts, s.cut)
		switch m {
		case "internet":
			res, reqs, err = libraryRun(ctx, w, s, transparent.FallbackInternet, *interval, *timeout)
		case "block":
			res, reqs, err = libraryRun(ctx, w, s, transparent.FallbackBlock, *interval, *timeout)
		case "wg-quick":
			if *wgQuick == "" || *wgGo == "" {
				fmt.Fprintln(os.Stderr, "failover: no -wg-quick and -wireguard-go: wg-quick skipped")
				continue
			}
			res, reqs, err = wgQuickRun(ctx, w, s, tmp, *wgQuick, *wgGo, *interval, *timeout)
		default:
			err = fmt.Errorf("-modes: %q is not internet, block or wg-quick", m)
		}
		if err != nil {
			tool.Fatal(fmt.Errorf("%s: %w", m, err))
		}
		rep.add(m, res, reqs)
	}
	if *command != "" {
		fmt.Fprintln(os.Stderr, "failover: block, wg-transparent run SIGKILLed")
		k, err := sigkillRun(ctx, w, tmp, *command, *killDur, *interval, *timeout)
		if err != nil {
			tool.Fatal(fmt.Errorf("sigkill: %w", err))
		}
		rep.kill = &k
	}
	for _, n := range []int{1, *hub} {
		if n <= 0 || n == 1 && *hub == 1 && len(rep.cpu) > 0 {
			continue
		}
		fmt.Fprintf(os.Stderr, "failover: health-check CPU, %d peers\n", n)
		r, err := cpuRun(ctx, tool.Session, n, *settle, *cpuDur)
		if err != nil {
			tool.Fatal(fmt.Errorf("cpu: %w", err))
		}
		rep.cpu = append(rep.cpu, r)
	}
	tool.Session.Close()
	if err := rep.write(*out); err != nil {
		tool.Fatal(err)
	}
	summary, _ := os.ReadFile(filepath.Join(*out, "summary.md"))
	os.Stdout.Write(summary)

}
