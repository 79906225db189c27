// Package health judges a peer's health from a series of probe
// intervals, each a hit (something was received from the peer during it)
// or a miss, with hysteresis: a healthy peer turns unhealthy after
// FailAfter consecutive misses, an unhealthy one healthy after
// RecoverAfter consecutive hits. It is pure: the caller gives the time of
// each interval's end.
package health

import "time"

// Judge is the health of one peer. Its zero value is not usable: make it
// with New.
type Judge struct {
	failAfter, recoverAfter int
	healthy                 bool
	misses, hits            int // consecutive, of the current run
	since                   time.Time
}

// New returns a Judge of a peer taken as healthy since now: a peer is
// routed through the tunnel until proven otherwise.
func New(failAfter, recoverAfter int, now time.Time) *Judge {
	return &Judge{failAfter: max(failAfter, 1), recoverAfter: max(recoverAfter, 1), healthy: true, since: now}
}

// Restore returns a Judge whose peer has been healthy or not since since,
// as a record says.
func Restore(failAfter, recoverAfter int, healthy bool, since time.Time) *Judge {
	j := New(failAfter, recoverAfter, since)
	j.healthy = healthy
	return j
}

// Observe records the interval that ended at now, hit or miss, and
// reports whether the judgement changed.
func (j *Judge) Observe(hit bool, now time.Time) (changed bool) {
	if hit {
		j.hits++
		j.misses = 0
	} else {
		j.misses++
		j.hits = 0
	}
	switch {
	case j.healthy && j.misses >= j.failAfter:
		j.healthy = false
	case !j.healthy && j.hits >= j.recoverAfter:
		j.healthy = true
	default:
		return false
	}
	j.since = now
	j.hits, j.misses = 0, 0
	return true
}

// Healthy is the current judgement.
func (j *Judge) Healthy() bool { return j.healthy }

// Since is when the current judgement began.
func (j *Judge) Since() time.Time { return j.since }
