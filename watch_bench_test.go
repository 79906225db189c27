//go:build linux

package transparent

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// BenchmarkWatchPoll measures Watch's drift poll on the embedded device in
// RulesTable mode with n scattered destinations (the device then holds n
// allowed IPs) and the article's SNAT rule: one poll (ns/op, and the
// process's CPU for it, the device's UAPI server included: CPU-ms/poll),
// the interval Watch then waits (WatchPollInterval, or watchPollShare
// times the poll: interval-s), and what that costs per second of Watch
// (CPU-%, of one core). With iptables-legacy, which announces nothing,
// each poll also reads the SNAT chain. idle/ then runs Watch itself on the
// settled tunnel for watchIdleFor and reports the CPU it took per second
// (Watch-CPU-ms/s), next to the same time without Watch (idle-CPU-ms/s:
// the device's own timers).
func BenchmarkWatchPoll(b *testing.B) {
	testns.RequireRoot(b)
	for _, tc := range []struct {
		fw Firewall
		n  int
	}{{FirewallNftables, 1}, {FirewallNftables, 10000}, {FirewallNftables, 100000}, {FirewallIPTablesLegacy, 1}} {
		c := manyDestinations(tc.n, 2)
		c.Rules, c.SNAT = RulesTable, SNATOutbound
		c.PublicAddresses = []netip.Addr{netip.MustParseAddr("198.51.100.1")}
		c.Name = "wgdrb" + randomHex(b)
		ns := testns.New(b, "bench")
		tun, err := New(c, WithNetNS(ns.Path), WithFirewall(tc.fw))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := tun.Up(ctx); err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("%s/N=%d", tc.fw, tc.n)
		b.Run("poll/"+name, func(b *testing.B) {
			cpu0, start := cpuTime(b), time.Now()
			for b.Loop() {
				if drift, _ := tun.pollDrift(false); drift {
					b.Fatal("drift on a settled tunnel")
				}
			}
			perPoll := (cpuTime(b) - cpu0) / time.Duration(b.N)
			interval := max(WatchPollInterval, time.Since(start)/time.Duration(b.N)*watchPollShare)
			b.ReportMetric(float64(perPoll.Microseconds())/1000, "CPU-ms/poll")
			b.ReportMetric(interval.Seconds(), "interval-s")
			b.ReportMetric(100*perPoll.Seconds()/interval.Seconds(), "CPU-%")
		})
		b.Run("idle/"+name, func(b *testing.B) {
			for b.Loop() {
				cpu0 := cpuTime(b)
				time.Sleep(watchIdleFor)
				idle := cpuTime(b) - cpu0
				tun.mu.Lock()
				tun.made = nil // set again by Watch's first Up, a no-op, left out
				tun.mu.Unlock()
				wctx, cancel := context.WithCancel(ctx)
				done := make(chan error)
				go func() { done <- tun.Watch(wctx) }()
				for up := false; !up; time.Sleep(10 * time.Millisecond) {
					tun.mu.Lock()
					up = tun.made != nil
					tun.mu.Unlock()
				}
				cpu1 := cpuTime(b)
				time.Sleep(watchIdleFor)
				watch := cpuTime(b) - cpu1
				cancel()
				<-done
				b.ReportMetric(float64(idle.Milliseconds())/watchIdleFor.Seconds(), "idle-CPU-ms/s")
				b.ReportMetric(float64(watch.Milliseconds())/watchIdleFor.Seconds(), "Watch-CPU-ms/s")
			}
		})
		if err := tun.Down(ctx); err != nil {
			b.Fatal(err)
		}
		tun.Close()
	}
}

// watchIdleFor is how long BenchmarkWatchPoll lets an idle Watch run:
// ten polls at WatchPollInterval.
const watchIdleFor = 10 * time.Second

// cpuTime is the process's CPU time so far, user and system, all threads.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
