//go:build linux

package soak

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Sample is the process's resources at one moment of the soak.
type Sample struct {
	At         time.Duration // since the soak began
	Round      int
	Goroutines int
	FDs        int    // open file descriptors
	RSS        uint64 // bytes
	Heap       uint64 // bytes in use on the Go heap after a collection
	Counts     Counts // what the soak had done so far
}

// sample collects first, so that the heap is the live heap.
func sample(start time.Time, round int, c Counts) (Sample, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Sample{At: time.Since(start), Round: round, Goroutines: runtime.NumGoroutine(), Heap: ms.HeapAlloc, Counts: c}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return s, fmt.Errorf("count open files: %w", err)
	}
	s.FDs = len(fds) - 1 // the directory ReadDir had open
	if s.RSS, err = rss(); err != nil {
		return s, err
	}
	return s, nil
}

// rss reads VmRSS from /proc/self/status.
func rss() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// CSVHeader is the first line WriteCSV writes.
const CSVHeader = "seconds,round,goroutines,fds,rss_mib,heap_mib,drifts,dns,failovers,reloads,flood,resyncs"

// WriteCSV writes the samples, one line each, after CSVHeader.
func WriteCSV(w io.Writer, samples []Sample) error {
	if _, err := fmt.Fprintln(w, CSVHeader); err != nil {
		return err
	}
	for _, s := range samples {
		c := s.Counts
		if _, err := fmt.Fprintf(w, "%.1f,%d,%d,%d,%.2f,%.2f,%d,%d,%d,%d,%d,%d\n", s.At.Seconds(), s.Round, s.Goroutines, s.FDs,
			float64(s.RSS)/(1<<20), float64(s.Heap)/(1<<20), c.Drifts, c.DNS, c.Failovers, c.Reloads, c.Flood, c.Resyncs); err != nil {
			return err
		}
	}
	return nil
}
