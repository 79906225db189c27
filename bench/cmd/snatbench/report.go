package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type stat struct {
	n               int
	mechanism, op   string
	count           int
	median, lo, hi  time.Duration
	procs, msgs     int
	bytes, requests int
	childCPU        time.Duration // median
	build           time.Duration // median
	cpu             time.Duration // median
}

func summarize(samples []sample) []stat {
	type key struct {
		n    int
		mech string
		op   string
	}
	groups := map[key][]cost{}
	var order []key
	for _, s := range samples {
		k := key{s.n, s.mechanism, s.op}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s.c)
	}
	var stats []stat
	for _, k := range order {
		cs := groups[k]
		d := make([]time.Duration, len(cs))
		cpu := make([]time.Duration, len(cs))
		build := make([]time.Duration, len(cs))
		total := make([]time.Duration, len(cs))
		for i, c := range cs {
			d[i], cpu[i], build[i], total[i] = c.dur, c.childCPU, c.build, c.cpu
		}
		slices.Sort(total)
		slices.Sort(d)
		slices.Sort(cpu)
		slices.Sort(build)
		stats = append(stats, stat{n: k.n, mechanism: k.mech, op: k.op, count: len(cs),
			median: median(d), lo: d[0], hi: d[len(d)-1],
			procs: cs[0].procs, msgs: cs[0].msgs, bytes: cs[0].bytes, requests: cs[0].requests,
			childCPU: median(cpu), build: median(build), cpu: median(total)})
	}
	return stats
}

func median(d []time.Duration) time.Duration {
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

func ms(d time.Duration) string {
	v := float64(d) / 1e6
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// writes names what one operation asks of the kernel: processes for A,
// netlink messages in the batch (or dump requests, for a read) for B and C.
func writes(s stat) string {
	switch {
	case s.procs > 0:
		return fmt.Sprintf("%d proc", s.procs)
	case s.requests > 0:
		return fmt.Sprintf("%d dumps", s.requests)
	case s.msgs > 0:
		kb := float64(s.bytes) / 1024
		if kb >= 10 {
			return fmt.Sprintf("%d msg, %.0f KiB", s.msgs, kb)
		}
		return fmt.Sprintf("%d msg, %.1f KiB", s.msgs, kb)
	}
	return ""
}

func writeSummary(out string, samples []sample) error {
	stats := summarize(samples)
	var csv strings.Builder
	csv.WriteString("n,mechanism,op,reps,median_ms,min_ms,max_ms,processes,nl_messages,nl_bytes,nl_requests,child_cpu_median_ms,build_median_ms,cpu_median_ms\n")
	for _, s := range stats {
		fmt.Fprintf(&csv, "%d,%s,%s,%d,%.4f,%.4f,%.4f,%d,%d,%d,%d,%.3f,%.4f,%.3f\n", s.n, s.mechanism, s.op, s.count,
			float64(s.median)/1e6, float64(s.lo)/1e6, float64(s.hi)/1e6, s.procs, s.msgs, s.bytes, s.requests, float64(s.childCPU)/1e6, float64(s.build)/1e6, float64(s.cpu)/1e6)
	}
	if err := os.WriteFile(filepath.Join(out, "summary.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}

	var mechs []string
	var ns []int
	for _, s := range stats {
		if !slices.Contains(mechs, s.mechanism) {
			mechs = append(mechs, s.mechanism)
		}
		if !slices.Contains(ns, s.n) {
			ns = append(ns, s.n)
		}
	}
	rank := func(m string) int {
		for i, p := range []string{"A-ipt-nft", "A-ipt-legacy", "B", "C"} {
			if strings.HasPrefix(m, p) {
				return i
			}
		}
		return 9
	}
	slices.SortFunc(mechs, func(a, b string) int { return rank(a) - rank(b) })
	slices.Sort(ns)
	// one column of counts per letter: A's variants spawn the same processes
	var groups, groupMech []string
	for _, m := range mechs {
		g := strings.SplitN(m, "-", 2)[0]
		if !slices.Contains(groups, g) {
			groups, groupMech = append(groups, g), append(groupMech, m)
		}
	}
	find := func(n int, m, op string) (stat, bool) {
		i := slices.IndexFunc(stats, func(s stat) bool { return s.n == n && s.mechanism == m && s.op == op })
		if i < 0 {
			return stat{}, false
		}
		return stats[i], true
	}
	var md strings.Builder
	table := func(cell func(stat) string, withCounts bool) {
		md.WriteString("| N | operation |")
		for _, m := range mechs {
			md.WriteString(" " + m + " |")
		}
		if withCounts {
			md.WriteString(" writes " + strings.Join(groups, " / ") + " |")
		}
		md.WriteString("\n|---:|---|")
		for range mechs {
			md.WriteString("---:|")
		}
		if withCounts {
			md.WriteString("---|")
		}
		md.WriteString("\n")
		for _, n := range ns {
			for _, op := range []string{"write", "read", "replace", "replace-delta", "delete"} {
				var cells, counts []string
				any := false
				for _, m := range mechs {
					s, ok := find(n, m, op)
					if !ok {
						cells = append(cells, "–")
						continue
					}
					any = true
					cells = append(cells, cell(s))
				}
				if !any {
					continue
				}
				label := map[string]string{"write": "write", "read": "read back", "replace": "replace 10%",
					"replace-delta": "replace 10% (delta)", "delete": "delete"}[op]
				fmt.Fprintf(&md, "| %d | %s | %s |", n, label, strings.Join(cells, " | "))
				if withCounts {
					for _, m := range groupMech {
						if s, ok := find(n, m, op); ok {
							counts = append(counts, writes(s))
						} else {
							counts = append(counts, "–")
						}
					}
					fmt.Fprintf(&md, " %s |", strings.Join(counts, " / "))
				}
				md.WriteString("\n")
			}
		}
	}
	md.WriteString("Wall time in milliseconds, median (min–max) over the repetitions; the last column: processes spawned (A) / netlink messages in the one batch, with BATCH_BEGIN/END, and their size (B, C; for a read, netlink dump requests). B's \"replace 10%\" flushes the chain and adds every rule again; \"(delta)\" deletes 10% of the rules by handle and adds 10%.\n\n")
	table(func(s stat) string { return fmt.Sprintf("%s (%s–%s)", ms(s.median), ms(s.lo), ms(s.hi)) }, true)
	md.WriteString("\nCPU time in milliseconds (user + system, this process and the processes it spawned; the kernel's work in netlink and in iptables' syscalls included), median. Less disturbed than wall time by other work on a shared machine.\n\n")
	table(func(s stat) string { return ms(s.cpu) }, false)
	return os.WriteFile(filepath.Join(out, "table.md"), []byte(md.String()), 0o644)
}
