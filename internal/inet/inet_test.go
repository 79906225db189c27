package inet

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func TestAggregate(t *testing.T) {
	for _, tt := range []struct{ in, want []string }{
		{[]string{"10.0.0.0/32", "10.0.0.1/32"}, []string{"10.0.0.0/31"}},
		{[]string{"10.0.0.1/32", "10.0.0.2/32"}, []string{"10.0.0.1/32", "10.0.0.2/32"}}, // not halves of one prefix
		{[]string{"10.0.0.3/32", "10.0.0.0/32", "10.0.0.2/32", "10.0.0.1/32"}, []string{"10.0.0.0/30"}},
		{[]string{"10.0.0.0/24", "10.0.0.7/32"}, []string{"10.0.0.0/24"}},
		{[]string{"203.0.113.2/32", "2001:db8::/128", "2001:db8::1/128"}, []string{"203.0.113.2/32", "2001:db8::/127"}},
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, []string{"0.0.0.0/0"}},
		{[]string{"10.0.0.1/32", "10.0.0.1/32"}, []string{"10.0.0.1/32"}},
		{nil, nil},
	} {
		var in, want []netip.Prefix
		for _, s := range tt.in {
			in = append(in, netip.MustParsePrefix(s))
		}
		for _, s := range tt.want {
			want = append(want, netip.MustParsePrefix(s))
		}
		if got := Aggregate(in); !slices.Equal(got, want) {
			t.Errorf("aggregate(%v) = %v, want %v", tt.in, got, want)
		}
	}
}

// TestAggregateCoversTheSameAddresses checks random sets within a /24:
// every address is covered by the result exactly when it was by the
// input, and no two results overlap or could merge.
func TestAggregateCoversTheSameAddresses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	covers := func(ps []netip.Prefix, a netip.Addr) bool {
		return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	for range 500 {
		var in []netip.Prefix
		for range 1 + r.IntN(40) {
			a := netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(256))})
			in = append(in, netip.PrefixFrom(a, 24+r.IntN(9)).Masked())
		}
		out := Aggregate(in)
		for i := range 256 {
			a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
			if covers(in, a) != covers(out, a) {
				t.Fatalf("aggregate(%v) = %v: %s differs", in, out, a)
			}
		}
		for i := 1; i < len(out); i++ {
			if out[i-1].Overlaps(out[i]) {
				t.Fatalf("aggregate(%v) = %v: overlap", in, out)
			}
		}
		if again := Aggregate(out); !slices.Equal(again, out) {
			t.Fatalf("aggregate is not minimal: %v then %v", out, again)
		}
	}
}
