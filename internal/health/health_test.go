package health

import (
	"testing"
	"time"
)

// clock is a fake clock that advances one interval per tick.
type clock struct{ t time.Time }

func (c *clock) tick() time.Time { c.t = c.t.Add(500 * time.Millisecond); return c.t }

func run(j *Judge, c *clock, pattern string) (changes []time.Time) {
	for _, r := range pattern {
		now := c.tick()
		if j.Observe(r == '+', now) {
			changes = append(changes, now)
		}
	}
	return changes
}

func TestFailsAfterConsecutiveMisses(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	j := New(4, 3, c.t)
	if ch := run(j, c, "+++---"); len(ch) != 0 || !j.Healthy() {
		t.Fatalf("three misses: changes %v, healthy %v; want still healthy", ch, j.Healthy())
	}
	ch := run(j, c, "-")
	if len(ch) != 1 || j.Healthy() || !j.Since().Equal(ch[0]) {
		t.Fatalf("fourth miss: changes %v, healthy %v since %v; want unhealthy since the fourth miss", ch, j.Healthy(), j.Since())
	}
}

func TestRecoversAfterConsecutiveHits(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	j := Restore(4, 3, false, c.t)
	if ch := run(j, c, "++-++-"); len(ch) != 0 || j.Healthy() {
		t.Fatalf("broken runs of hits: changes %v, healthy %v; want still unhealthy", ch, j.Healthy())
	}
	if ch := run(j, c, "+++"); len(ch) != 1 || !j.Healthy() {
		t.Fatalf("three hits: changes %v, healthy %v; want healthy", ch, j.Healthy())
	}
}

// TestFlappingDoesNotFlap: a path that drops fewer than FailAfter
// intervals at a time never fails over.
func TestFlappingDoesNotFlap(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	j := New(4, 3, c.t)
	if ch := run(j, c, "---+---+--+---+-+---+"); len(ch) != 0 || !j.Healthy() {
		t.Fatalf("flapping: changes %v; want none", ch)
	}
	// Once failed over, a flapping path does not bring it back either.
	run(j, c, "----")
	if ch := run(j, c, "++-++-+-++-"); len(ch) != 0 || j.Healthy() {
		t.Fatalf("flapping while unhealthy: changes %v; want none", ch)
	}
}

func TestZeroThresholdsAreOne(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	j := New(0, 0, c.t)
	if ch := run(j, c, "-+"); len(ch) != 2 {
		t.Fatalf("changes %v; want a change at each interval", ch)
	}
}
