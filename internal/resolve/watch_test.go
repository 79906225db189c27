package resolve_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/resolve"
)

// TestTrackerWithServer runs the loop a tunnel's Watch runs, on a clock
// the test moves, against the test DNS server: the TTL decides when the
// name is asked again, a rotation adds the new address at once and removes
// the old one after its grace period, and a silent server keeps the
// addresses while the tracker retries.
func TestTrackerWithServer(t *testing.T) {
	srv, r := world(t)
	r.Attempts = 1
	tr, err := resolve.NewTracker(resolve.Options{Grace: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const name = "app.example.com"
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr.Track(name, t0)
	// step is one turn of the loop at t0+d; it returns what changed.
	step := func(d time.Duration) (added, removed []netip.Addr) {
		now := t0.Add(d)
		due, _ := tr.Next(now)
		for _, n := range due {
			var c resolve.Change
			if a, err := r.Lookup(context.Background(), n); err != nil {
				c = tr.Failed(n, err, now)
			} else {
				c = tr.Update(n, a, now)
			}
			added, removed = append(added, c.Added...), append(removed, c.Removed...)
		}
		for _, c := range tr.Expire(now) {
			removed = append(removed, c.Removed...)
		}
		return added, removed
	}
	check := func(when string, added, removed, wantAdded, wantRemoved, wantAddrs []netip.Addr) {
		t.Helper()
		if !slices.Equal(added, wantAdded) || !slices.Equal(removed, wantRemoved) || !slices.Equal(tr.Addrs(name), wantAddrs) {
			t.Errorf("%s: added %v removed %v addresses %v; want added %v removed %v addresses %v",
				when, added, removed, tr.Addrs(name), wantAdded, wantRemoved, wantAddrs)
		}
	}

	srv.Set(name, 10*time.Second, ips("192.0.2.1", "192.0.2.2")...)
	added, removed := step(0)
	check("first answer", added, removed, ips("192.0.2.1", "192.0.2.2"), nil, ips("192.0.2.1", "192.0.2.2"))

	srv.Set(name, 10*time.Second, ips("192.0.2.2", "192.0.2.3")...)
	added, removed = step(5 * time.Second)
	check("before the TTL ends", added, removed, nil, nil, ips("192.0.2.1", "192.0.2.2"))
	if n := srv.Queries(name); n != 2 {
		t.Errorf("before the TTL ends the server was asked %d questions, want only the first 2", n)
	}
	added, removed = step(10 * time.Second)
	check("rotation", added, removed, ips("192.0.2.3"), nil, ips("192.0.2.1", "192.0.2.2", "192.0.2.3"))

	srv.Silent(true)
	added, removed = step(20 * time.Second)
	check("silent server", added, removed, nil, nil, ips("192.0.2.1", "192.0.2.2", "192.0.2.3"))
	st, _ := tr.Status(name)
	if !errors.Is(st.Err, resolve.ErrUnreachable) || !st.Next.Equal(t0.Add(21*time.Second)) {
		t.Errorf("silent server: status %+v, want ErrUnreachable and a retry at 21s", st)
	}

	srv.Silent(false)
	added, removed = step(40 * time.Second) // 192.0.2.1 left at 10s: its 30s of grace are over
	check("grace over", added, removed, nil, ips("192.0.2.1"), ips("192.0.2.2", "192.0.2.3"))
	if _, next := tr.Next(t0.Add(40 * time.Second)); !next.Equal(t0.Add(50 * time.Second)) {
		t.Errorf("next event at %v, want 50s (the TTL)", next.Sub(t0))
	}
}
