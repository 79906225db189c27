package transparent

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
)

// TestExceptionNeverMissing replays config changes over each other and
// checks the order of the steps: at every point of the plan, each
// transparent rule present has an exception rule present.
func TestExceptionNeverMissing(t *testing.T) {
	port := articleA(PeerRouteRule).WithDefaults()
	fwmark := port
	fwmark.Exception = ExceptionFwMark
	fwmark = fwmark.WithDefaults()
	moved := port
	moved.Priority = 1000
	for _, change := range []struct {
		name     string
		from, to Config
	}{
		{"port to fwmark", port, fwmark},
		{"fwmark to port", fwmark, port},
		{"priority moves", port, moved},
		{"priority moves back", moved, port},
	} {
		t.Run(change.name, func(t *testing.T) {
			have := &observed{}
			present := map[string]bool{} // rule text -> in the kernel
			for _, r := range desiredRules(change.from) {
				have.rules = append(have.rules, ownedRule{spec: r, ok: true, raw: *r.netlink()})
				present[r.String()] = true
			}
			check := func(when string) {
				exceptions, transparent := 0, 0
				for r := range present {
					switch {
					case strings.Contains(r, "lookup main"):
						exceptions++
					case strings.Contains(r, "to 203.0.113.2/32 lookup"):
						transparent++
					}
				}
				if transparent > 0 && exceptions == 0 {
					t.Fatalf("%s: a transparent rule stands without an exception rule: %v", when, present)
				}
			}
			steps, err := planUp(change.to, have)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				switch s := s.(type) {
				case *addRuleStep:
					present[s.rule.String()] = true
				case *delRuleStep:
					delete(present, s.rule.spec.String())
				}
				check("after " + s.String())
			}
			var got []string
			for r := range present {
				got = append(got, r)
			}
			var want []string
			for _, r := range desiredRules(change.to) {
				want = append(want, r.String())
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("rules after the plan %q, want %q", got, want)
			}
		})
	}
}

// TestDiffRoutes: the one-pass merge for sorted lists and the search for
// unsorted ones split routes alike, in want's and have's orders.
func TestDiffRoutes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n int) []linuxnet.Route {
		var rs []linuxnet.Route
		for range n {
			a := netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(4)), byte(rng.IntN(8))})
			rs = append(rs, linuxnet.Route{Dst: netip.PrefixFrom(a, 32), Table: []int{123, 254}[rng.IntN(2)]})
		}
		return inet.Dedupe(rs)
	}
	for range 200 {
		want, have := pick(rng.IntN(30)), pick(rng.IntN(30))
		k1, a1, s1 := diffRoutes(want, have) // unsorted: searched
		slices.SortFunc(want, compareRoutes)
		slices.SortFunc(have, compareRoutes)
		k2, a2, s2 := diffRoutes(want, have) // sorted: merged
		for _, rs := range [][]linuxnet.Route{k1, a1, s1} {
			slices.SortFunc(rs, compareRoutes)
		}
		if !slices.Equal(k1, k2) || !slices.Equal(a1, a2) || !slices.Equal(s1, s2) {
			t.Fatalf("want %v have %v:\nsearched %v %v %v\nmerged   %v %v %v", want, have, k1, a1, s1, k2, a2, s2)
		}
	}
}
