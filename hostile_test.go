package transparent

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/wgtransparent/transparent/internal/testns"
)

// TestBadConfigsChangeNothing gives every bad config of rejectCases and
// failoverRejectCases to New
// and to SetConfig of a running tunnel, in a namespace of its own: each is
// refused with ErrInvalidConfig, and the namespace's links, addresses,
// routes and rules are exactly as before, the running tunnel included.
func TestBadConfigsChangeNothing(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "bad")
	good := articleA(PeerRouteRule)
	good.Name = "wgbad"
	running, err := New(good, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	ctx := context.Background()
	if err := running.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range slices.Concat(rejectCases, failoverRejectCases) {
		c := good
		c.Peers = append([]Peer(nil), good.Peers...)
		tt.change(&c)
		if tun, err := New(c, WithNetNS(ns.Path)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, %v; want ErrInvalidConfig", tt.name, tun, err)
		}
		if err := running.SetConfig(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: SetConfig = %v; want ErrInvalidConfig", tt.name, err)
		}
	}
	if err := running.Up(ctx); err != nil {
		t.Fatalf("Up after the refused configs: %v", err)
	}
	if running.writes != 0 {
		t.Errorf("a refused SetConfig changed the running config: Up made %d writes", running.writes)
	}
	diff, err := testns.DiffSettled(ns, before)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("bad configs changed the namespace:\n%s", diff)
	}
	if err := running.Down(ctx); err != nil {
		t.Fatal(err)
	}
}
