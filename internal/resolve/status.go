package resolve

import (
	"net/netip"
	"slices"
	"time"
)

// Status is one name's state, for a device's description and the
// command's show.
type Status struct {
	Name     string
	Addrs    []netip.Addr  // of the last answer, sorted
	Leaving  []Leaving     // left the answer, routed until their grace ends; by address
	Resolved time.Time     // when the last answer came; zero if none yet
	TTL      time.Duration // of the last answer
	Next     time.Time     // when the name is asked again
	Err      error         // of the last lookup; nil if it succeeded
	Failures int           // failed lookups in a row
}

// Leaving is an address that left its name's answer.
type Leaving struct {
	Addr  netip.Addr
	Until time.Time // when it stops being routed
}

// Status returns name's state, and false if it is not tracked.
func (t *Tracker) Status(name string) (Status, bool) {
	name = Canonical(name)
	e := t.names[name]
	if e == nil {
		return Status{}, false
	}
	s := Status{
		Name: name, Addrs: slices.Clone(e.current), Resolved: e.resolved, TTL: e.ttl,
		Next: e.next, Err: e.err, Failures: e.failures,
	}
	for addr, until := range e.leaving {
		s.Leaving = append(s.Leaving, Leaving{addr, until})
	}
	slices.SortFunc(s.Leaving, func(a, b Leaving) int { return a.Addr.Compare(b.Addr) })
	return s, true
}

// Statuses returns the state of every tracked name, by name.
func (t *Tracker) Statuses() []Status {
	var all []Status
	for _, name := range t.Names() {
		s, _ := t.Status(name)
		all = append(all, s)
	}
	return all
}
