//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/wgtransparent/transparent/internal/resolve"
)

// maxParallelLookups bounds the lookups in flight at once: a hundred
// names are resolved in a few round trips, and a silent name server costs
// a few timeouts rather than one per name.
const maxParallelLookups = 16

// nameState is a Tunnel's TransparentNames: the Tracker of their answers,
// grace periods and next lookups, and where to ask. Its mutex guards the
// Tracker only; lookups run without it, so that Names and Plan do not
// wait for a slow name server.
type nameState struct {
	server         netip.AddrPort // WithResolver; invalid: ServerFor(netnsPath)
	netnsPath      string
	minTTL, maxTTL time.Duration // WithNameTTL, with resolve's defaults
	now            func() time.Time

	mu      sync.Mutex
	tracker *resolve.Tracker
}

func newNameState(o options) (*nameState, error) {
	tr, err := resolve.NewTracker(resolve.Options{Grace: o.names.resolveGrace(), MinTTL: o.names.minTTL, MaxTTL: o.names.maxTTL})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n := &nameState{server: o.names.server, netnsPath: o.netnsPath, minTTL: o.names.minTTL, maxTTL: o.names.maxTTL, now: time.Now, tracker: tr}
	if n.minTTL == 0 {
		n.minTTL, n.maxTTL = resolve.DefaultMinTTL, resolve.DefaultMaxTTL
	}
	return n, nil
}

// ttlBounds is the wait before a name with an answer of this TTL is
// asked again, as the Tracker bounds it.
func (n *nameState) ttlBounds(ttl time.Duration) time.Duration {
	return min(max(ttl, n.minTTL), n.maxTTL)
}

// resolveGrace is the grace period in resolve's terms: zero there means
// its default, and negative none.
func (o nameOptions) resolveGrace() time.Duration {
	if o.graceSet && o.grace == 0 {
		return -1
	}
	return o.grace
}

// lookup is the outcome of one name's lookup.
type lookup struct {
	name   string // canonical
	answer resolve.Answer
	server netip.Addr // the name server asked; checkAnswer refuses it as an answer
	err    error
}

// lookupAll resolves names, maxParallelLookups at a time, from inside the
// tunnel's namespace, and returns their outcomes in the order of names.
func (t *Tunnel) lookupAll(ctx context.Context, names []string) []lookup {
	out := make([]lookup, len(names))
	if len(names) == 0 {
		return out
	}
	server := t.names.server
	if !server.IsValid() {
		s, err := resolve.ServerFor(t.names.netnsPath)
		if err != nil {
			for i, n := range names {
				out[i] = lookup{name: n, err: err}
			}
			return out
		}
		server = s
	}
	r := &resolve.Resolver{Server: server, Dial: t.dialInNS}
	t.lookups.Add(int64(len(names)))
	sem := make(chan struct{}, maxParallelLookups)
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := r.Lookup(ctx, n)
			out[i] = lookup{name: n, answer: a, server: server.Addr(), err: err}
		}()
	}
	wg.Wait()
	return out
}

// dialInNS connects to a name server with a socket made inside the
// tunnel's namespace: goroutines do not inherit a thread's namespace, so
// the socket is made inside the namespace, and used from anywhere afterwards.
func (t *Tunnel) dialInNS(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := t.k.InNamespace(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// config returns the tunnel's config, or ErrClosed.
func (t *Tunnel) config() (Config, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return Config{}, ErrClosed
	}
	return t.cfg, nil
}

// refreshNames brings the Tracker up to date for Up and Watch: it tracks
// the config's names (forgetting those it no longer lists), looks up each
// name that has no answer yet or is due, records the answers (an answer
// that checkAnswer refuses counts as a failed lookup), and ends the grace
// periods that are over. It reports whether the addresses to route
// changed. A name that fails and never had an answer is an ErrName error
// naming it; one that had an answer keeps its addresses, is logged, and is
// retried with backoff.
func (t *Tunnel) refreshNames(ctx context.Context) (changed bool, err error) {
	c, err := t.config()
	if err != nil || !c.hasNames() && len(t.names.tracked()) == 0 {
		return false, err
	}
	n := t.names
	n.mu.Lock()
	now := n.now()
	for _, name := range n.tracker.Names() {
		if !slices.Contains(c.names(), name) {
			ch := n.tracker.Forget(name)
			changed = changed || !ch.Empty()
		}
	}
	var due []string
	dueNow, _ := n.tracker.Next(now)
	for _, name := range c.names() {
		st, ok := n.tracker.Status(name)
		if !ok || st.Resolved.IsZero() || slices.Contains(dueNow, name) {
			due = append(due, name)
		}
	}
	n.mu.Unlock()

	results := t.lookupAll(ctx, due)
	if err := ctx.Err(); err != nil {
		return changed, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now = n.now()
	var errs []error
	for _, r := range results {
		err := r.err
		if err == nil {
			err = checkAnswer(c, r.name, r.answer.Addrs, n.routed(now), r.server)
		}
		var ch resolve.Change
		if err == nil {
			ch = n.tracker.Update(r.name, r.answer, now)
			if !ch.Empty() {
				t.log.Info("transparent name resolved", "host", r.name, "added", ch.Added, "removed", ch.Removed, "ttl", r.answer.TTL)
			}
		} else {
			ch = n.tracker.Failed(r.name, err, now)
			st, _ := n.tracker.Status(r.name)
			if st.Resolved.IsZero() {
				errs = append(errs, nameError(c, r.name, err))
			} else {
				t.log.Warn("transparent name not resolved; keeping its addresses", "host", r.name, "addresses", st.Addrs, "retry", st.Next.Sub(now).Round(time.Millisecond), "err", err)
			}
		}
		changed = changed || !ch.Empty()
	}
	for _, ch := range n.tracker.Expire(now) {
		t.log.Info("transparent name: grace period over", "host", ch.Name, "removed", ch.Removed)
		changed = true
	}
	return changed, errors.Join(errs...)
}

// nameError is the error of a name that gave nothing to route.
func nameError(c Config, name string, err error) error {
	return fmt.Errorf("%s %s: %w: %w", c.nameField(name), name, ErrName, err)
}

// tracked returns the tracked names.
func (n *nameState) tracked() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tracker.Names()
}

// routed returns each tracked name's addresses to route at now: its last
// answer's and those whose grace period is not over. n.mu is held.
func (n *nameState) routed(now time.Time) routedNames {
	out := routedNames{}
	for _, st := range n.tracker.Statuses() {
		out[st.Name] = routedOf(st, now)
	}
	return out
}

// routedOf returns a status's addresses to route at now, sorted.
func routedOf(st resolve.Status, now time.Time) []netip.Addr {
	addrs := slices.Clone(st.Addrs)
	for _, l := range st.Leaving {
		if l.Until.After(now) {
			addrs = append(addrs, l.Addr)
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return slices.Compact(addrs)
}

// effective returns the config Up applies now, c with its names' tracked
// addresses (effectiveConfig). A name of c that never resolved (c was set
// after the last lookups) is an ErrName error.
func (t *Tunnel) effective(c Config) (Config, error) {
	if !c.hasNames() {
		return c, nil
	}
	n := t.names
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range c.names() {
		if st, ok := n.tracker.Status(name); !ok || st.Resolved.IsZero() {
			return Config{}, nameError(c, name, errors.New("not resolved yet: run Up again"))
		}
	}
	return effectiveConfig(c, n.routed(n.now())), nil
}

// armNameTimer sets timer to fire when the Tracker next has something to
// do (a lookup, or a grace period's end) and returns its channel; nil,
// which never fires, when no name is tracked or the Tunnel is closed.
func (t *Tunnel) armNameTimer(timer *time.Timer) <-chan time.Time {
	if _, err := t.config(); err != nil {
		timer.Stop()
		return nil
	}
	n := t.names
	n.mu.Lock()
	_, next := n.tracker.Next(n.now())
	now := n.now()
	n.mu.Unlock()
	if next.IsZero() {
		timer.Stop()
		return nil
	}
	timer.Reset(max(next.Sub(now), 0))
	return timer.C
}

// NameStatus is the state of one of TransparentNames, as Names reports it.
type NameStatus struct {
	Name     string        // canonical: lower case, no trailing dot
	Addrs    []netip.Addr  // of the last answer, sorted; routed
	Leaving  []LeavingAddr // left the answer; still routed until their grace ends
	Resolved time.Time     // when the last answer came; zero if none yet
	TTL      time.Duration // of the last answer
	Next     time.Time     // when the name is resolved again (while Watch runs); zero before the first Up
	Err      error         // of the last lookup; nil if it succeeded
}

// LeavingAddr is an address that left its name's answer.
type LeavingAddr struct {
	Addr  netip.Addr
	Until time.Time // when it stops being routed
}

// Names returns the state of the config's TransparentNames, in config
// order: the addresses routed for each, those in their grace period, when
// it is resolved again, and the last lookup's error. Before the first Up
// a name has only its Name. It does no lookup.
func (t *Tunnel) Names() []NameStatus {
	c, err := t.config()
	if err != nil {
		return nil
	}
	n := t.names
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []NameStatus
	for _, name := range c.names() {
		ns := NameStatus{Name: name}
		if st, ok := n.tracker.Status(name); ok {
			ns.Addrs, ns.Resolved, ns.TTL, ns.Next, ns.Err = st.Addrs, st.Resolved, st.TTL, st.Next, st.Err
			for _, l := range st.Leaving {
				ns.Leaving = append(ns.Leaving, LeavingAddr{l.Addr, l.Until})
			}
		}
		out = append(out, ns)
	}
	return out
}

// resolveForUp is Up's first step: refreshNames, its error naming the
// tunnel. Nothing is changed in the kernel when it fails.
func (t *Tunnel) resolveForUp(ctx context.Context) error {
	if _, err := t.refreshNames(ctx); err != nil {
		c, _ := t.config()
		return fmt.Errorf("up %s: resolve transparent names: %w", c.Name, err)
	}
	return nil
}

// planLookups resolves for Plan and Check without changing the Tracker:
// for Check (all) every name, for Plan those Up would ask for (no answer
// yet, or due). It returns the outcomes by name.
func (t *Tunnel) planLookups(ctx context.Context, all bool) (map[string]lookup, error) {
	c, err := t.config()
	if err != nil || !c.hasNames() {
		return nil, err
	}
	n := t.names
	var ask []string
	n.mu.Lock()
	dueNow, _ := n.tracker.Next(n.now())
	for _, name := range c.names() {
		st, ok := n.tracker.Status(name)
		if all || !ok || st.Resolved.IsZero() || slices.Contains(dueNow, name) {
			ask = append(ask, name)
		}
	}
	n.mu.Unlock()
	out := map[string]lookup{}
	for _, r := range t.lookupAll(ctx, ask) {
		out[r.name] = r
	}
	return out, ctx.Err()
}

// planView returns the config Up would apply after the fresh answers
// (each name's tracked addresses, with a fresh answer's added, as
// Tracker.Update would keep them) and one line per name for the plan: Op
// keep with its addresses, or, for Check (check), Op replace for a name
// whose answer moved. A name without any answer, fresh or tracked, is an
// ErrName error. The Tracker is not changed.
func (t *Tunnel) planView(c Config, fresh map[string]lookup, check bool) (Config, []Change, error) {
	if !c.hasNames() {
		return c, nil, nil
	}
	n := t.names
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	tracked := n.routed(now)
	routed := routedNames{}
	var lines []Change
	for _, name := range c.names() {
		st, ok := n.tracker.Status(name)
		resolved := ok && !st.Resolved.IsZero()
		f, asked := fresh[name]
		err := f.err
		if asked && err == nil {
			err = checkAnswer(c, name, f.answer.Addrs, tracked, f.server)
		}
		var line nameLine
		switch {
		case asked && err == nil:
			routed[name] = union(tracked[name], f.answer.Addrs)
			line = nameLine{name: name, addrs: f.answer.Addrs, ttl: f.answer.TTL, moved: resolved && !slices.Equal(st.Addrs, f.answer.Addrs), was: st.Addrs}
		case resolved:
			routed[name] = tracked[name]
			line = nameLine{name: name, addrs: st.Addrs, ttl: st.TTL, err: err}
			if errors.Is(err, resolve.ErrNoAddresses) && len(st.Addrs) > 0 {
				line.addrs, line.moved, line.was = nil, true, st.Addrs
			}
		default:
			if err == nil {
				err = errors.New("not resolved yet")
			}
			return Config{}, nil, nameError(c, name, err)
		}
		line.leaving = st.Leaving
		line.unrouted = slices.DeleteFunc(slices.Clone(routed[name]), c.hasFamily)
		lines = append(lines, line.change(check, now))
	}
	return effectiveConfig(c, routed), lines, nil
}

// union returns the addresses of a and b, sorted, without duplicates.
func union(a, b []netip.Addr) []netip.Addr {
	out := append(slices.Clone(a), b...)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// nameLine is what a plan says about one name.
type nameLine struct {
	name     string
	addrs    []netip.Addr // of the answer
	ttl      time.Duration
	leaving  []resolve.Leaving
	unrouted []netip.Addr // of a family without a tunnel address
	moved    bool         // the fresh answer differs from the tracked one
	was      []netip.Addr // the tracked answer, when moved
	err      error        // of a failed fresh lookup; the tracked answer stays
}

// change is the line as a plan's Change: keep, or replace for an answer
// that moved when Check asks. Its Command is a comment: no command of its
// own changes the kernel, the route, rule, device and SNAT steps that
// follow do.
func (l nameLine) change(check bool, now time.Time) Change {
	s := "name " + l.name + ": "
	if l.moved {
		s += "answer moved to "
	}
	if len(l.addrs) == 0 {
		s += "no addresses"
	} else {
		s += addrList(l.addrs) + fmt.Sprintf(" (ttl %s)", l.ttl)
	}
	if l.moved {
		s += ", was " + addrList(l.was)
	}
	for _, lv := range l.leaving {
		if lv.Until.After(now) {
			s += fmt.Sprintf("; %s leaving, routed for %s more", lv.Addr, lv.Until.Sub(now).Round(time.Second))
		}
	}
	if len(l.unrouted) > 0 {
		s += "; not routed, no tunnel address of their family in Addresses: " + addrList(l.unrouted)
	}
	if l.err != nil {
		s += fmt.Sprintf("; lookup failed, keeping the last answer: %v", l.err)
	}
	op := OpKeep
	if check && l.moved {
		op = OpReplace
	}
	return Change{Op: op, Step: s, Command: "# " + s}
}

func addrList(addrs []netip.Addr) string {
	s := ""
	for i, a := range addrs {
		if i > 0 {
			s += ", "
		}
		s += a.String()
	}
	return s
}

// watchNames is Watch's turn when the Tracker has something due: it
// resolves the due names, ends the grace periods that are over, and runs
// Up when the addresses to route changed. It returns ErrBroughtDown
// when that Up finds the tunnel brought down (Keep).
func (t *Tunnel) watchNames(ctx context.Context) error {
	changed, err := t.refreshNames(ctx)
	if err != nil && ctx.Err() == nil {
		t.log.Error("watch: transparent names not resolved; retrying", "err", err)
	}
	if !changed || ctx.Err() != nil {
		return nil
	}
	_, err = t.up(ctx, true)
	if err != nil && !errors.Is(err, ErrBroughtDown) && ctx.Err() == nil {
		t.log.Error("watch: up failed after a name's answer changed; retrying at the next change", "err", err)
	}
	return err
}

// LookupNames resolves every name of TransparentNames again, from the
// tunnel's namespace, and returns their answers in config order, without
// keeping them: Names and the routes are unchanged. It is for a program
// that shows the names without running Up or Watch (the command's show,
// in a process of its own); each status has the fresh answer's addresses,
// TTL and Next (when a Watch would ask again), or Err (a failed lookup,
// or an answer Up would refuse).
func (t *Tunnel) LookupNames(ctx context.Context) ([]NameStatus, error) {
	c, err := t.config()
	if err != nil {
		return nil, err
	}
	results := t.lookupAll(ctx, c.names())
	n := t.names
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	routed := n.routed(now)
	var out []NameStatus
	for _, r := range results {
		if r.err == nil {
			r.err = checkAnswer(c, r.name, r.answer.Addrs, routed, r.server)
		}
		st := NameStatus{Name: r.name, Err: r.err}
		if r.err == nil {
			st.Addrs, st.Resolved, st.TTL = r.answer.Addrs, now, r.answer.TTL
			st.Next = now.Add(t.names.ttlBounds(r.answer.TTL))
		}
		out = append(out, st)
	}
	return out, ctx.Err()
}
