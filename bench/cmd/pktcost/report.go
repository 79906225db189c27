package main

import (
	"fmt"
	"strings"
	"time"
)

// result is one condition: the rates with the tunnel down before and
// after it, and up.
type result struct {
	cond          string
	before, after rates
	up            rates
	upTime        time.Duration
	rules         int // A's IPv4 rules with the tunnel up (3 without it)
}

func (r result) ratio() (local, fwd float64) {
	return r.up.local / ((r.before.local + r.after.local) / 2), r.up.forwarded / ((r.before.forwarded + r.after.forwarded) / 2)
}

func (r result) line() string {
	l, f := r.ratio()
	return fmt.Sprintf("%d rules, Up %s; local %.0f/s (%.2fx down), forwarded %.0f/s (%.2fx down)",
		r.rules, r.upTime.Round(time.Millisecond), r.up.local, l, r.up.forwarded, f)
}

func summary(results []result, dur time.Duration, samples int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pktcost: packets/s outside the tunnel\n\n")
	fmt.Fprintf(&b, "Medians of %d samples of %s. \"down\" is the mean of the measurements with the tunnel down just before and after the condition; the ratio is up over that.\n\n", samples, dur)
	fmt.Fprintln(&b, "| condition | IPv4 rules in A | Up | local UDP, up | down | ratio | µs/packet | forwarded, up | down | ratio | µs/packet |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		l, f := r.ratio()
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.0f | **%.2fx** | %.1f | %.0f | %.0f | **%.2fx** | %.1f |\n",
			r.cond, r.rules, r.upTime.Round(time.Millisecond),
			r.up.local, (r.before.local+r.after.local)/2, l, 1e6/r.up.local,
			r.up.forwarded, (r.before.forwarded+r.after.forwarded)/2, f, 1e6/r.up.forwarded)
	}
	return b.String()
}
