package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// timing is one measurement of N operations.
type timing struct {
	total       time.Duration // all N operations
	first, last time.Duration // the first and the last ops operations
	ops         int           // min(window, N)
}

// perOp is d per operation of a window, in microseconds.
func (t timing) perOp(d time.Duration) float64 {
	return float64(d) / float64(time.Microsecond) / float64(t.ops)
}

// timeChunks times n operations in chunks of window (the last one may be
// shorter); first and last are the first and the last full chunk.
func timeChunks(n int, chunk func(lo, hi int) error) (timing, error) {
	var d []time.Duration
	start := time.Now()
	for lo := 0; lo < n; lo += window {
		hi := min(lo+window, n)
		t0 := time.Now()
		if err := chunk(lo, hi); err != nil {
			return timing{}, fmt.Errorf("operations %d-%d of %d: %w", lo+1, hi, n, err)
		}
		d = append(d, time.Since(t0))
	}
	last := d[len(d)-1]
	if len(d) > 1 && n%window != 0 {
		last = d[len(d)-2]
	}
	return timing{total: time.Since(start), first: d[0], last: last, ops: min(window, n)}, nil
}

// timeEach times n operations one by one.
func timeEach(n int, op func(i int) error) (timing, error) {
	d := make([]time.Duration, n)
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if err := op(i); err != nil {
			return timing{}, fmt.Errorf("operation %d of %d: %w", i+1, n, err)
		}
		d[i] = time.Since(t0)
	}
	t := timing{total: time.Since(start), ops: min(window, n)}
	for i := range t.ops {
		t.first += d[i]
		t.last += d[n-t.ops+i]
	}
	return t, nil
}

type result struct {
	variant string
	n       int
	timing
}

// summary is the Markdown table of the results: per variant and N, the
// minimum of the repetitions (the least disturbed run on a shared
// machine) and the median.
func summary(results []result, vs []variant, ns []int, reps int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# rulecost: the cost of N policy rules\n\n")
	fmt.Fprintf(&b, "%d repetitions, each in a fresh network namespace. us/op first and last: the mean time of one operation among the first and among the last %d (minimum of the repetitions; for the batch variants, a batch divided by its size). T(N)/T(N0): the minimum total against the same variant's at the first N (linear: N/N0; quadratic: (N/N0)^2).\n\n", reps, window)
	b.WriteString("| variant | N | total min | total median | us/op first | us/op last | last ÷ first | T(N)/T(N0) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, v := range vs {
		var base time.Duration
		for _, n := range ns {
			var tot []time.Duration
			var best timing
			for _, r := range results {
				if r.variant != v.name || r.n != n {
					continue
				}
				tot = append(tot, r.total)
				if best.ops == 0 || r.total < best.total {
					best.total, best.ops = r.total, r.ops
				}
				if best.first == 0 || r.first < best.first {
					best.first = r.first
				}
				if best.last == 0 || r.last < best.last {
					best.last = r.last
				}
			}
			if len(tot) == 0 {
				continue
			}
			if base == 0 {
				base = best.total
			}
			slices.Sort(tot)
			med := (tot[(len(tot)-1)/2] + tot[len(tot)/2]) / 2
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %.1f | %.1f | %.1f | %.1f |\n", v.name, n, fmtDur(best.total), fmtDur(med),
				best.perOp(best.first), best.perOp(best.last), float64(best.last)/float64(best.first), float64(best.total)/float64(base))
		}
	}
	b.WriteString("\nVariants:\n\n")
	for _, v := range vs {
		fmt.Fprintf(&b, "- `%s`: %s\n", v.name, v.desc)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
}
