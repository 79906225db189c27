package main

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// rawWriter appends samples to raw.csv and flushes each row.
type rawWriter struct {
	f *os.File
	w *csv.Writer
}

func newRawWriter(path string) (*rawWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	r := &rawWriter{f: f, w: csv.NewWriter(f)}
	r.w.Write([]string{"impl", "snat", "n", "op", "rep", "counted", "status", "seconds", "writes", "writes_dropped", "spawns", "spawn_detail"})
	return r, nil
}

// add writes samples and returns them.
func (r *rawWriter) add(ss ...sample) []sample {
	for _, s := range ss {
		secs := ""
		if s.status == statusOK {
			secs = strconv.FormatFloat(s.seconds, 'f', 6, 64)
		}
		spawns := ""
		if s.counted && s.status == statusOK {
			spawns = strconv.Itoa(s.spawns)
		}
		r.w.Write([]string{s.impl, snatName(s.snat), strconv.Itoa(s.n), s.op, strconv.Itoa(s.rep),
			strconv.FormatBool(s.counted), s.status, secs, strconv.Itoa(s.events), strconv.FormatBool(s.dropped), spawns, s.detail})
	}
	r.w.Flush()
	return ss
}

func (r *rawWriter) close() error {
	r.w.Flush()
	return r.f.Close()
}

func snatName(on bool) string {
	if on {
		return "outbound"
	}
	return "off"
}

// stat summarizes one (impl, SNAT, N, op) over its timed repetitions;
// the counting repetition (rep 0) gives the process count only, because
// its shims slow the commands down.
type stat struct {
	impl             string
	snat             bool
	n                int
	op               string
	status           string
	reps             int // timed repetitions that completed
	median, min, max float64
	writes           int // median rtnetlink and nf_tables notifications, all repetitions
	dropped          bool
	spawns           int
	detail           string
	counted          bool
}

type key struct {
	impl string
	snat bool
	n    int
	op   string
}

func summarize(all []sample) map[key]*stat {
	groups := map[key][]sample{}
	for _, s := range all {
		k := key{s.impl, s.snat, s.n, s.op}
		groups[k] = append(groups[k], s)
	}
	out := map[key]*stat{}
	for k, ss := range groups {
		st := &stat{impl: k.impl, snat: k.snat, n: k.n, op: k.op, status: ss[0].status}
		var times []float64
		var writes []int
		for _, s := range ss {
			if s.status != statusOK {
				if st.reps == 0 {
					st.status = s.status
				}
				continue
			}
			st.status = statusOK
			writes = append(writes, s.events)
			st.dropped = st.dropped || s.dropped
			if s.counted {
				st.spawns, st.detail, st.counted = s.spawns, s.detail, true
				continue
			}
			times = append(times, s.seconds)
			st.reps++
		}
		if len(times) > 0 {
			st.median, st.min, st.max = median(times), slices.Min(times), slices.Max(times)
		} else if st.status == statusOK {
			st.status = statusSkipped // only the counting repetition ran
		}
		if len(writes) > 0 {
			slices.Sort(writes)
			st.writes = writes[len(writes)/2]
		}
		out[k] = st
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeSummary writes summary.csv (for the plot) and table.md.
func writeSummary(b *bench, all []sample) error {
	stats := summarize(all)
	keys := make([]key, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y key) int {
		return cmp.Or(cmp.Compare(snatName(x.snat), snatName(y.snat)), cmp.Compare(x.impl, y.impl),
			cmp.Compare(slices.Index(ops, x.op), slices.Index(ops, y.op)), cmp.Compare(x.n, y.n))
	})
	f, err := os.Create(filepath.Join(b.out, "summary.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"impl", "snat", "n", "op", "status", "reps", "median_s", "min_s", "max_s", "writes", "spawns", "spawn_detail"})
	for _, k := range keys {
		st := stats[k]
		w.Write([]string{st.impl, snatName(st.snat), strconv.Itoa(st.n), st.op, st.status, strconv.Itoa(st.reps),
			fmtFloat(st.median), fmtFloat(st.min), fmtFloat(st.max), strconv.Itoa(st.writes), strconv.Itoa(st.spawns), st.detail})
	}
	w.Flush()
	if err := cmp.Or(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("write summary.csv: %w", err)
	}
	md := markdown(b, stats)
	fmt.Print(md)
	return os.WriteFile(filepath.Join(b.out, "table.md"), []byte(md), 0o644)
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }

var opNames = map[string]string{
	opUp:     "Up from nothing",
	opNoop:   "no-op Up",
	opChange: "Up after 10% change",
	opDown:   "Down",
}

// markdown is one table per SNAT mode: per N and operation, each
// implementation's median, spread, writes and processes, and the ratio.
func markdown(b *bench, stats map[key]*stat) string {
	var sb strings.Builder
	for _, snat := range b.snats {
		fmt.Fprintf(&sb, "\n### SNAT %s\n\n", snatName(snat))
		sb.WriteString("| N | operation | library median (min–max) | library writes / procs | wg-quick median (min–max) | wg-quick writes / procs | wg-quick ÷ library |\n")
		sb.WriteString("|---:|---|---|---|---|---|---:|\n")
		for _, n := range b.ns {
			for _, op := range ops {
				lib, wq := stats[key{"library", snat, n, op}], stats[key{"wg-quick", snat, n, op}]
				ratio := ""
				if ok(lib) && ok(wq) {
					ratio = fmt.Sprintf("%.0f×", wq.median/lib.median)
					if wq.median/lib.median < 10 {
						ratio = fmt.Sprintf("%.1f×", wq.median/lib.median)
					}
				}
				fmt.Fprintf(&sb, "| %d | %s | %s | %s | %s | %s | %s |\n", n, opNames[op],
					timeCell(b, lib, op), writesCell(lib), timeCell(b, wq, op), writesCell(wq), ratio)
			}
		}
	}
	return sb.String()
}

func ok(st *stat) bool { return st != nil && st.status == statusOK && st.median > 0 }

func timeCell(b *bench, st *stat, op string) string {
	switch {
	case st == nil:
		return "—"
	case st.status == statusNA:
		return "n/a"
	case st.status == statusSkipped:
		return fmt.Sprintf("skipped (> %s cap)", b.cap)
	}
	s := fmt.Sprintf("%s (%s–%s)", dur(st.median), dur(st.min), dur(st.max))
	if st.impl == "wg-quick" && op == opChange {
		s += " down+up"
	}
	if want := b.repsFor(st.n); st.reps < want {
		s += fmt.Sprintf(" [%d of %d reps]", st.reps, want)
	}
	return s
}

func (b *bench) repsFor(n int) int {
	if n > b.largeN {
		return b.repsLarge
	}
	return b.reps
}

func writesCell(st *stat) string {
	if st == nil || st.status != statusOK {
		return ""
	}
	w := strconv.Itoa(st.writes)
	if st.dropped {
		w = "≥" + w
	}
	if !st.counted {
		return w + " / ?"
	}
	return fmt.Sprintf("%s / %d", w, st.spawns)
}

// dur formats seconds with three significant digits, in ms below 1 s.
func dur(s float64) string {
	if s < 1 {
		return strconv.FormatFloat(roundSig(s*1000, 3), 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(roundSig(s, 3), 'f', -1, 64) + " s"
}

func roundSig(x float64, digits int) float64 {
	if x == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}
