//go:build linux

package transparent

import "testing"

// TestRulePriority: the exported description of the rule layout, which
// the wgquick package renders and reads, is what Up makes.
func TestRulePriority(t *testing.T) {
	for _, pr := range []PeerRoute{PeerRouteRule, PeerRoutePrefix, PeerRouteMain} {
		for _, ex := range []ExceptionMode{ExceptionPort, ExceptionFwMark} {
			c := articleA(pr)
			c.Exception, c.Priority = ex, 1000
			c = c.WithDefaults()
			for _, r := range desiredRules(c) {
				kind := RuleTransparent
				switch {
				case r.Table == tableMain:
					kind = RuleException
				case r.Dst == pfx("10.0.0.2/32"):
					kind = RulePeer
				}
				if got := c.RulePriority(kind); got != r.Priority {
					t.Errorf("%s/%s: %s: RulePriority(%d) = %d", pr, ex, r, kind, got)
				}
				if got := PriorityFor(kind, r.Priority); got != c.Priority {
					t.Errorf("%s/%s: PriorityFor(%d, %d) = %d, want %d", pr, ex, kind, r.Priority, got, c.Priority)
				}
			}
		}
	}
}
