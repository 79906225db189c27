package main

import "time"

// Operations, in the order each round runs them.
const (
	opUp     = "up"     // Up from nothing
	opNoop   = "noop"   // a second Up with the same config
	opChange = "change" // Up after replacing 10% of the destinations
	opDown   = "down"   // Down
)

var ops = []string{opUp, opNoop, opChange, opDown}

// Statuses of a measurement.
const (
	statusOK      = "ok"
	statusNA      = "n/a"     // the implementation has no such operation
	statusSkipped = "skipped" // over the time cap, or after an operation that was
)

// sample is one operation of one round.
type sample struct {
	impl    string // "library" or "wg-quick"
	snat    bool
	n       int
	op      string
	rep     int  // 0 is the counting repetition
	counted bool // processes were counted through the shim (rep 0)
	seconds float64
	events  int  // rtnetlink and nf_tables notifications in A during the operation
	dropped bool // the kernel dropped notifications: events is a lower bound
	spawns  int  // processes started (counted repetitions only)
	detail  string
	status  string
}

// timed runs fn and returns its duration in seconds.
func timed(fn func() error) (float64, error) {
	start := time.Now()
	err := fn()
	return time.Since(start).Seconds(), err
}
