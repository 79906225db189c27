package resolve

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// Tracker keeps, for each tracked name, the addresses of its last answer,
// the addresses that left it and are still in their grace period, and when
// the name is to be asked again. It does no I/O and reads no clock: every
// method takes the time, so that a caller (and a test) decides what now
// is. It is not safe for concurrent use.
//
// A watch loop runs:
//
//	due, _ := t.Next(now)
//	for _, name := range due {
//		a, err := r.Lookup(ctx, name)
//		if err != nil { apply(t.Failed(name, err, now)) } else { apply(t.Update(name, a, now)) }
//	}
//	apply(t.Expire(now)...)
//	_, next := t.Next(now)  // sleep until next
type Tracker struct {
	opts  Options
	names map[string]*entry
}

// entry is one name's state.
type entry struct {
	current  []netip.Addr             // the last answer's, sorted
	leaving  map[netip.Addr]time.Time // left the answer: routed until then
	resolved time.Time                // of the last answer; zero before it
	ttl      time.Duration            // of the last answer
	next     time.Time                // when to ask again
	err      error                    // of the last lookup, nil if it succeeded
	failures int                      // failed lookups in a row
}

// Change is what an operation changed in one name's addresses: the
// addresses to route now, and those to stop routing. An address that left
// the answer is in Removed only when its grace period is over. An address
// that another name or a Transparent prefix also has stays routed: the
// caller unions the names' [Tracker.Addrs].
type Change struct {
	Name           string
	Added, Removed []netip.Addr // sorted
}

// Empty reports whether c changes nothing.
func (c Change) Empty() bool { return len(c.Added) == 0 && len(c.Removed) == 0 }

// NewTracker returns a Tracker with no names. It is an error if opts has a
// lower bound above its upper bound.
func NewTracker(opts Options) (*Tracker, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Tracker{opts: o, names: map[string]*entry{}}, nil
}

// Track adds name, due to be asked at now. A name already tracked is left
// as it is. Names are compared in [Canonical] form.
func (t *Tracker) Track(name string, now time.Time) {
	name = Canonical(name)
	if t.names[name] == nil {
		t.names[name] = &entry{next: now, leaving: map[netip.Addr]time.Time{}}
	}
}

// Forget stops tracking name; the Change removes all its addresses, those
// in their grace period too.
func (t *Tracker) Forget(name string) Change {
	name = Canonical(name)
	c := Change{Name: name}
	if e := t.names[name]; e != nil {
		c.Removed = e.addrs()
		delete(t.names, name)
	}
	return c
}

// Names returns the tracked names, sorted.
func (t *Tracker) Names() []string { return slices.Sorted(maps.Keys(t.names)) }

// Update records a successful answer for name (tracking it if it was not)
// and schedules the next lookup after the answer's TTL, bounded by MinTTL
// and MaxTTL. New addresses are Added; addresses that left the answer stay
// for the grace period; an address that comes back within it is simply
// kept. Grace periods over at now are Removed.
func (t *Tracker) Update(name string, a Answer, now time.Time) Change {
	t.Track(name, now)
	name = Canonical(name)
	e := t.names[name]
	c := Change{Name: name}
	addrs := slices.Clone(a.Addrs)
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	for _, addr := range addrs {
		_, leaving := e.leaving[addr]
		if !leaving && !contains(e.current, addr) {
			c.Added = append(c.Added, addr)
		}
		delete(e.leaving, addr)
	}
	for _, addr := range e.current {
		if !contains(addrs, addr) {
			e.leaving[addr] = now.Add(t.opts.Grace)
		}
	}
	e.current, e.resolved, e.ttl, e.err, e.failures = addrs, now, a.TTL, nil, 0
	e.next = now.Add(min(max(a.TTL, t.opts.MinTTL), t.opts.MaxTTL))
	c.Removed = e.expire(now)
	return c
}

// Failed records a failed lookup of name and schedules a retry after
// MinRetry, doubled with each failure in a row up to MaxRetry. The name's
// addresses are kept when the server could not answer (any error but
// [ErrNoAddresses]): nothing is known. When the server answered that the
// name has no addresses, that answer is believed: they leave as if an
// empty answer had come, each staying for its grace period. Grace periods
// over at now are Removed.
func (t *Tracker) Failed(name string, err error, now time.Time) Change {
	t.Track(name, now)
	name = Canonical(name)
	e := t.names[name]
	if errors.Is(err, ErrNoAddresses) {
		for _, addr := range e.current {
			e.leaving[addr] = now.Add(t.opts.Grace)
		}
		e.current = nil
	}
	e.err = err
	e.failures++
	wait := t.opts.MinRetry
	for i := 1; i < e.failures && wait < t.opts.MaxRetry; i++ {
		wait *= 2
	}
	e.next = now.Add(min(wait, t.opts.MaxRetry))
	return Change{Name: name, Removed: e.expire(now)}
}

// Expire removes the addresses whose grace period is over at now and
// returns the non-empty changes, by name.
func (t *Tracker) Expire(now time.Time) []Change {
	var cs []Change
	for _, name := range t.Names() {
		if gone := t.names[name].expire(now); len(gone) > 0 {
			cs = append(cs, Change{Name: name, Removed: gone})
		}
	}
	return cs
}

// Next returns the names due to be asked at now, sorted, and the earliest
// time anything is due: a lookup or the end of a grace period (to call
// Expire). next is at or before now when something is due already, and
// zero when no name is tracked. A due name stays due until Update or
// Failed is called for it.
func (t *Tracker) Next(now time.Time) (due []string, next time.Time) {
	for _, name := range t.Names() {
		e := t.names[name]
		if !e.next.After(now) {
			due = append(due, name)
		}
		next = earliest(next, e.next)
		for _, until := range e.leaving {
			next = earliest(next, until)
		}
	}
	return due, next
}

// Addrs returns name's addresses to route, sorted: the last answer's and
// those still in their grace period. It is nil for a name not tracked or
// not resolved yet.
func (t *Tracker) Addrs(name string) []netip.Addr {
	if e := t.names[Canonical(name)]; e != nil {
		return e.addrs()
	}
	return nil
}

// All returns the addresses of all names, sorted, without duplicates.
func (t *Tracker) All() []netip.Addr {
	var all []netip.Addr
	for _, e := range t.names {
		all = append(all, e.current...)
		all = slices.AppendSeq(all, maps.Keys(e.leaving))
	}
	slices.SortFunc(all, netip.Addr.Compare)
	return slices.Compact(all)
}

// addrs returns the current and leaving addresses, sorted.
func (e *entry) addrs() []netip.Addr {
	if len(e.current)+len(e.leaving) == 0 {
		return nil
	}
	all := slices.AppendSeq(slices.Clone(e.current), maps.Keys(e.leaving))
	slices.SortFunc(all, netip.Addr.Compare)
	return all
}

// expire drops the leaving addresses whose grace period is over at now
// and returns them, sorted.
func (e *entry) expire(now time.Time) []netip.Addr {
	var gone []netip.Addr
	for addr, until := range e.leaving {
		if !until.After(now) {
			gone = append(gone, addr)
			delete(e.leaving, addr)
		}
	}
	slices.SortFunc(gone, netip.Addr.Compare)
	return gone
}

func contains(sorted []netip.Addr, a netip.Addr) bool {
	_, ok := slices.BinarySearchFunc(sorted, a, netip.Addr.Compare)
	return ok
}

// earliest returns the earlier of a and b, where zero means unset.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
