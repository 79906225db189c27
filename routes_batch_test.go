//go:build linux

package transparent

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// TestRouteBatch checks the batched route writes (routes_batch.go) on the
// real kernel: Up with many routes writes all of them, counted and logged
// as single steps; a failure injected inside a run rolls back; a route
// the kernel refuses in the middle of a batch fails with an error naming
// it, and the routes around it, written by the same batch, are rolled
// back; adding what is there and deleting what is gone succeed.
func TestRouteBatch(t *testing.T) {
	ns := testns.New(t, "batch")
	c := manyDestinations(300, 2)
	c.Rules, c.Name = RulesTable, "wgrb"+randomHex(t)
	tun, err := New(c, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	dump := func() string {
		t.Helper()
		d, err := testns.Dump(ns)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tableRoutes := func() map[netip.Prefix]bool {
		t.Helper()
		rs, err := tun.k.Routes(unix.AF_INET, c.Table)
		if err != nil {
			t.Fatal(err)
		}
		got := map[netip.Prefix]bool{}
		for _, r := range rs {
			if r.Protocol == RouteProtocol && r.Scope == unix.RT_SCOPE_LINK {
				got[r.Dst] = true
			}
		}
		return got
	}
	want := desiredRoutes(c.WithDefaults())
	if len(want) < 10*minRouteBatch {
		t.Fatalf("only %d routes: the test needs runs longer than a batch", len(want))
	}

	before := dump()
	// A failure in the middle of the route steps: the run is written up
	// to it as a batch, then all is rolled back.
	FailWrite(tun, 100)
	err = tun.Up(ctx)
	FailWrite(tun, 0)
	if !errors.Is(err, errInjected) {
		t.Fatalf("Up with write 100 failing: %v, want the injected failure", err)
	}
	if diff := testns.Diff(before, dump()); diff != "" {
		t.Fatalf("after the rollback of a batched Up:\n%s", diff)
	}

	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	got := tableRoutes()
	for _, r := range want {
		if !got[r.Dst] {
			t.Errorf("after Up: %s missing", r)
		}
	}
	if len(got) != len(want) || tun.writes < len(want) {
		t.Errorf("after Up: %d routes in table %d and %d writes, want %d routes, one write each", len(got), c.Table, tun.writes, len(want))
	}

	// Idempotent: adding them again and deleting routes that are gone
	// succeed, route by route.
	b := tun.k.(routeBatcher)
	gone := []linuxnet.Route{{Dst: netip.MustParsePrefix("100.64.200.1/32"), Table: c.Table}, {Dst: netip.MustParsePrefix("100.64.200.3/32"), Table: c.Table}}
	for name, errs := range map[string][]error{
		"add of present routes": b.AddRoutes(c.Name, want),
		"delete of gone routes": b.DelRoutes(c.Name, gone),
	} {
		if err := errors.Join(errs...); err != nil || len(errs) != len(want) && name[0] == 'a' {
			t.Errorf("%s: %d results, %v", name, len(errs), err)
		}
	}

	// The kernel refuses an IPv6 route in the middle of a batch (IPv6 is
	// off on the link): that route's step fails, the IPv4 routes around
	// it, written by the same batch, are rolled back.
	err = ns.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys/net/ipv6/conf", c.Name, "disable_ipv6"), []byte("1"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	before = dump()
	var steps []step
	bad := linuxnet.Route{Dst: netip.MustParsePrefix("2001:db8::/64"), Table: c.Table}
	for i := range 40 {
		if i == 20 {
			steps = append(steps, &addRouteStep{name: c.Name, route: bad})
		}
		steps = append(steps, &addRouteStep{name: c.Name, route: linuxnet.Route{Dst: netip.PrefixFrom(benchAddr(2*benchAddrs+2*i), 32), Table: c.Table}})
	}
	err, undoErr := tun.apply(ctx, "up", steps, true)
	if err == nil || !strings.Contains(err.Error(), bad.String()) || undoErr != nil {
		t.Fatalf("apply with %s refused: error %v (want one naming it), rollback error %v", bad, err, undoErr)
	}
	if diff := testns.Diff(before, dump()); diff != "" {
		t.Fatalf("after the rollback of a batch with a refused route:\n%s", diff)
	}

	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tableRoutes(); len(got) != 0 {
		t.Errorf("after Down: %d routes left in table %d", len(got), c.Table)
	}
}
