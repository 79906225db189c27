package resolve

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ips(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

func newTracker(t *testing.T, o Options) *Tracker {
	t.Helper()
	tr, err := NewTracker(o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// step is one event in a tracker's life and what must follow from it.
type step struct {
	at      time.Duration
	update  []string // an answer with these addresses (nil with err set: a failure)
	ttl     time.Duration
	err     error
	added   []string // the Change
	removed []string
	addrs   []string      // Addrs afterwards
	next    time.Duration // the name's next lookup afterwards
}

// TestTrackerName follows one name through answers, rotations, grace
// periods and failures.
func TestTrackerName(t *testing.T) {
	const name = "app.example.com"
	unreachable := fmt.Errorf("resolve %s: %w", name, ErrUnreachable)
	nx := fmt.Errorf("resolve %s: %w", name, ErrNoAddresses)
	for _, tt := range []struct {
		desc  string
		opts  Options
		steps []step
	}{
		{"first answer, TTL honoured", Options{}, []step{
			{at: 0, update: []string{"192.0.2.2", "192.0.2.1"}, ttl: time.Minute,
				added: []string{"192.0.2.1", "192.0.2.2"}, addrs: []string{"192.0.2.1", "192.0.2.2"}, next: time.Minute},
		}},
		{"TTL floor and ceiling", Options{}, []step{
			{at: 0, update: []string{"192.0.2.1"}, ttl: 0, added: []string{"192.0.2.1"}, addrs: []string{"192.0.2.1"}, next: DefaultMinTTL},
			{at: 5 * time.Second, update: []string{"192.0.2.1"}, ttl: 48 * time.Hour, addrs: []string{"192.0.2.1"}, next: 5*time.Second + DefaultMaxTTL},
		}},
		{"custom floor and ceiling", Options{MinTTL: time.Second, MaxTTL: 10 * time.Second}, []step{
			{at: 0, update: []string{"192.0.2.1"}, ttl: 0, added: []string{"192.0.2.1"}, addrs: []string{"192.0.2.1"}, next: time.Second},
			{at: time.Second, update: []string{"192.0.2.1"}, ttl: time.Minute, addrs: []string{"192.0.2.1"}, next: 11 * time.Second},
		}},
		{"rotation keeps the old address for the grace period", Options{}, []step{
			{at: 0, update: []string{"192.0.2.1", "192.0.2.2"}, ttl: time.Minute, added: []string{"192.0.2.1", "192.0.2.2"},
				addrs: []string{"192.0.2.1", "192.0.2.2"}, next: time.Minute},
			{at: time.Minute, update: []string{"192.0.2.2", "192.0.2.3"}, ttl: time.Minute, added: []string{"192.0.2.3"},
				addrs: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, next: 2 * time.Minute},
			{at: 5 * time.Minute, update: []string{"192.0.2.2", "192.0.2.3"}, ttl: time.Minute,
				addrs: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, next: 6 * time.Minute}, // 4 min in grace
			{at: 6 * time.Minute, update: []string{"192.0.2.2", "192.0.2.3"}, ttl: time.Minute, removed: []string{"192.0.2.1"},
				addrs: []string{"192.0.2.2", "192.0.2.3"}, next: 7 * time.Minute}, // 5 min: gone
		}},
		{"an address back within its grace period is kept, not added", Options{Grace: time.Minute}, []step{
			{at: 0, update: []string{"192.0.2.1"}, ttl: 10 * time.Second, added: []string{"192.0.2.1"}, addrs: []string{"192.0.2.1"}, next: 10 * time.Second},
			{at: 10 * time.Second, update: []string{"192.0.2.2"}, ttl: 10 * time.Second, added: []string{"192.0.2.2"},
				addrs: []string{"192.0.2.1", "192.0.2.2"}, next: 20 * time.Second},
			{at: 20 * time.Second, update: []string{"192.0.2.1"}, ttl: 10 * time.Second,
				addrs: []string{"192.0.2.1", "192.0.2.2"}, next: 30 * time.Second},
			{at: 80 * time.Second, update: []string{"192.0.2.1"}, ttl: 10 * time.Second, removed: []string{"192.0.2.2"},
				addrs: []string{"192.0.2.1"}, next: 90 * time.Second}, // 192.0.2.1 came back: never removed
		}},
		{"no grace", Options{Grace: -1}, []step{
			{at: 0, update: []string{"192.0.2.1", "2001:db8::1"}, ttl: time.Minute, added: []string{"192.0.2.1", "2001:db8::1"},
				addrs: []string{"192.0.2.1", "2001:db8::1"}, next: time.Minute},
			{at: time.Minute, update: []string{"2001:db8::2"}, ttl: time.Minute, added: []string{"2001:db8::2"},
				removed: []string{"192.0.2.1", "2001:db8::1"}, addrs: []string{"2001:db8::2"}, next: 2 * time.Minute},
		}},
		{"an unreachable server keeps the addresses and backs off", Options{}, []step{
			{at: 0, update: []string{"192.0.2.1"}, ttl: time.Minute, added: []string{"192.0.2.1"}, addrs: []string{"192.0.2.1"}, next: time.Minute},
			{at: time.Minute, err: unreachable, addrs: []string{"192.0.2.1"}, next: time.Minute + time.Second},
			{at: 61 * time.Second, err: unreachable, addrs: []string{"192.0.2.1"}, next: 63 * time.Second},
			{at: 63 * time.Second, err: unreachable, addrs: []string{"192.0.2.1"}, next: 67 * time.Second},
			{at: 67 * time.Second, err: unreachable, addrs: []string{"192.0.2.1"}, next: 75 * time.Second},
			{at: time.Hour, err: unreachable, addrs: []string{"192.0.2.1"}, next: time.Hour + 16*time.Second},
			{at: 2 * time.Hour, err: unreachable, addrs: []string{"192.0.2.1"}, next: 2*time.Hour + 32*time.Second},
			{at: 3 * time.Hour, err: unreachable, addrs: []string{"192.0.2.1"}, next: 3*time.Hour + DefaultMaxRetry}, // bounded
			{at: 4 * time.Hour, err: unreachable, addrs: []string{"192.0.2.1"}, next: 4*time.Hour + DefaultMaxRetry},
			{at: 5 * time.Hour, update: []string{"192.0.2.1"}, ttl: time.Minute, addrs: []string{"192.0.2.1"}, next: 5*time.Hour + time.Minute},
			{at: 5*time.Hour + time.Minute, err: unreachable, addrs: []string{"192.0.2.1"}, next: 5*time.Hour + time.Minute + time.Second}, // backoff starts over
		}},
		{"custom backoff", Options{MinRetry: 10 * time.Second, MaxRetry: 25 * time.Second}, []step{
			{at: 0, err: unreachable, next: 10 * time.Second},
			{at: 10 * time.Second, err: unreachable, next: 30 * time.Second},
			{at: 30 * time.Second, err: unreachable, next: 55 * time.Second},
		}},
		{"no addresses: they leave with their grace period", Options{Grace: time.Minute}, []step{
			{at: 0, update: []string{"192.0.2.1"}, ttl: 10 * time.Second, added: []string{"192.0.2.1"}, addrs: []string{"192.0.2.1"}, next: 10 * time.Second},
			{at: 10 * time.Second, err: nx, addrs: []string{"192.0.2.1"}, next: 11 * time.Second},
			{at: 11 * time.Second, err: nx, addrs: []string{"192.0.2.1"}, next: 13 * time.Second},
			{at: 70 * time.Second, err: nx, removed: []string{"192.0.2.1"}, next: 74 * time.Second},
			{at: 74 * time.Second, update: []string{"192.0.2.1"}, ttl: 10 * time.Second, added: []string{"192.0.2.1"},
				addrs: []string{"192.0.2.1"}, next: 84 * time.Second},
		}},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			tr := newTracker(t, tt.opts)
			for i, s := range tt.steps {
				now := at(s.at)
				var c Change
				if s.err != nil {
					c = tr.Failed(name, s.err, now)
				} else {
					c = tr.Update(name, Answer{Name: name, Addrs: ips(s.update...), TTL: s.ttl}, now)
				}
				if c.Name != name || !slices.Equal(c.Added, ips(s.added...)) || !slices.Equal(c.Removed, ips(s.removed...)) {
					t.Errorf("step %d: change %+v, want added %v removed %v", i, c, s.added, s.removed)
				}
				if got := tr.Addrs(name); !slices.Equal(got, ips(s.addrs...)) {
					t.Errorf("step %d: Addrs = %v, want %v", i, got, s.addrs)
				}
				st, ok := tr.Status(name)
				if !ok || !st.Next.Equal(at(s.next)) || !errors.Is(st.Err, s.err) {
					t.Errorf("step %d: status %+v, want next at %v, error %v", i, st, s.next, s.err)
				}
			}
		})
	}
}

// TestTrackerNext: Next says which names are due and when the next event
// (a lookup or the end of a grace period) comes; Expire removes what
// ended.
func TestTrackerNext(t *testing.T) {
	tr := newTracker(t, Options{Grace: 30 * time.Second})
	if due, next := tr.Next(t0); due != nil || !next.IsZero() {
		t.Errorf("empty tracker: Next = %v, %v", due, next)
	}
	tr.Track("B.example.com.", t0)
	tr.Track("a.example.com", t0)
	tr.Track("b.example.com", at(time.Hour)) // already tracked: still due now
	if due, next := tr.Next(t0); !slices.Equal(due, []string{"a.example.com", "b.example.com"}) || !next.Equal(t0) {
		t.Errorf("new names: Next = %v, %v; want both due now", due, next)
	}
	tr.Update("a.example.com", Answer{Addrs: ips("192.0.2.1"), TTL: 20 * time.Second}, t0)
	if due, next := tr.Next(t0); !slices.Equal(due, []string{"b.example.com"}) || !next.Equal(t0) {
		t.Errorf("one answered: Next = %v, %v; want b due now", due, next)
	}
	tr.Update("b.example.com", Answer{Addrs: ips("192.0.2.2", "192.0.2.1"), TTL: time.Minute}, t0)
	if due, next := tr.Next(at(time.Second)); due != nil || !next.Equal(at(20*time.Second)) {
		t.Errorf("both answered: Next = %v, %v; want nothing due, next at 20s", due, next)
	}
	if all := tr.All(); !slices.Equal(all, ips("192.0.2.1", "192.0.2.2")) {
		t.Errorf("All = %v", all)
	}
	// a's address rotates at 20 s: its grace period ends at 50 s, before b's TTL at 60 s
	tr.Update("a.example.com", Answer{Addrs: ips("192.0.2.3"), TTL: 40 * time.Second}, at(20*time.Second))
	if due, next := tr.Next(at(21 * time.Second)); due != nil || !next.Equal(at(50*time.Second)) {
		t.Errorf("after a rotation: Next = %v, %v; want next at 50s (end of grace)", due, next)
	}
	if cs := tr.Expire(at(49 * time.Second)); cs != nil {
		t.Errorf("Expire before the end of grace = %+v", cs)
	}
	cs := tr.Expire(at(50 * time.Second))
	if len(cs) != 1 || cs[0].Name != "a.example.com" || !slices.Equal(cs[0].Removed, ips("192.0.2.1")) {
		t.Errorf("Expire at the end of grace = %+v", cs)
	}
	if all := tr.All(); !slices.Equal(all, ips("192.0.2.1", "192.0.2.2", "192.0.2.3")) {
		t.Errorf("All = %v (b still has 192.0.2.1)", all)
	}
	if due, next := tr.Next(at(60 * time.Second)); !slices.Equal(due, []string{"a.example.com", "b.example.com"}) || !next.Equal(at(60*time.Second)) {
		t.Errorf("at 60s: Next = %v, %v", due, next)
	}
	if c := tr.Forget("b.example.com."); c.Name != "b.example.com" || !slices.Equal(c.Removed, ips("192.0.2.1", "192.0.2.2")) {
		t.Errorf("Forget = %+v", c)
	}
	if got := tr.Names(); !slices.Equal(got, []string{"a.example.com"}) {
		t.Errorf("Names after Forget = %v", got)
	}
	if c := tr.Forget("nobody.example"); !c.Empty() {
		t.Errorf("Forget of an unknown name = %+v", c)
	}
}

// TestTrackerStatus: a status has the current and leaving addresses, the
// last answer and the last error.
func TestTrackerStatus(t *testing.T) {
	tr := newTracker(t, Options{})
	if _, ok := tr.Status("app.example.com"); ok {
		t.Error("Status of an untracked name is ok")
	}
	tr.Update("app.example.com", Answer{Addrs: ips("192.0.2.1", "2001:db8::1"), TTL: time.Minute}, t0)
	tr.Update("app.example.com", Answer{Addrs: ips("192.0.2.2"), TTL: time.Minute}, at(time.Minute))
	fail := fmt.Errorf("resolve app.example.com: %w", ErrUnreachable)
	tr.Failed("app.example.com", fail, at(2*time.Minute))
	st, _ := tr.Status("App.Example.com")
	want := Status{
		Name: "app.example.com", Addrs: ips("192.0.2.2"),
		Leaving:  []Leaving{{netip.MustParseAddr("192.0.2.1"), at(6 * time.Minute)}, {netip.MustParseAddr("2001:db8::1"), at(6 * time.Minute)}},
		Resolved: at(time.Minute), TTL: time.Minute, Next: at(2*time.Minute + time.Second), Err: fail, Failures: 1,
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("Status =\n%+v\nwant\n%+v", st, want)
	}
	tr.Track("other.example.com", t0)
	all := tr.Statuses()
	if len(all) != 2 || all[0].Name != "app.example.com" || all[1].Name != "other.example.com" || all[1].Addrs != nil {
		t.Errorf("Statuses = %+v", all)
	}
}

func TestTrackerOptions(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{MinTTL: time.Hour, MaxTTL: time.Minute}, "MinTTL 1h0m0s is more than MaxTTL 1m0s"},
		{Options{MinTTL: 2 * time.Hour}, "is more than MaxTTL 1h0m0s"}, // against the default
		{Options{MinRetry: time.Minute, MaxRetry: time.Second}, "MinRetry 1m0s is more than MaxRetry 1s"},
		{Options{MinTTL: -time.Second}, "must be positive"},
	} {
		if _, err := NewTracker(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewTracker(%+v) = %v, want an error saying %q", tt.opts, err, tt.want)
		}
	}
}
