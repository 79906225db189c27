//go:build linux

package transparent

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/rulelayout"
)

// TestRulePriority: the shared description of the rule layout, which the
// wgquick package renders and reads, is what Up makes.
func TestRulePriority(t *testing.T) {
	for _, pr := range []PeerRoute{PeerRouteRule, PeerRoutePrefix, PeerRouteMain} {
		for _, ex := range []ExceptionMode{ExceptionPort, ExceptionFwMark} {
			c := articleA(pr)
			c.Exception, c.Priority = ex, 1000
			c = c.WithDefaults()
			for _, r := range desiredRules(c) {
				kind := rulelayout.Transparent
				switch {
				case r.Table == inet.TableMain:
					kind = rulelayout.Exception
				case r.Dst == pfx("10.0.0.2/32"):
					kind = rulelayout.Peer
				}
				if got := rulelayout.Priority(c.Priority, kind); got != r.Priority {
					t.Errorf("%s/%s: %s: Priority(%d) = %d", pr, ex, r, kind, got)
				}
				if got := rulelayout.Base(kind, r.Priority); got != c.Priority {
					t.Errorf("%s/%s: Base(%d, %d) = %d, want %d", pr, ex, kind, r.Priority, got, c.Priority)
				}
			}
		}
	}
}

// TestRulesAdvice: Up and Plan suggest RulesTable above
// suggestTableAbove per-destination rules, and only then.
func TestRulesAdvice(t *testing.T) {
	c := articleA(PeerRouteRule).WithDefaults()
	if a := rulesAdvice(c); a != "" {
		t.Errorf("advice for the article's one destination: %q", a)
	}
	for i := range 150 {
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 1}), 32))
	}
	if a := rulesAdvice(c); !strings.Contains(a, "RulesTable") {
		t.Errorf("advice for 151 destinations: %q, want RulesTable suggested", a)
	}
	c.Rules = RulesTable
	if a := rulesAdvice(c); a != "" {
		t.Errorf("advice in table mode: %q", a)
	}
}
