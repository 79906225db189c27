package transparent

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// failoverRejectCases are bad Fallback and Health settings, each with the
// field Validate must name and a word of its message.
var failoverRejectCases = []rejectCase{
	{"fallback with nothing transparent", func(c *Config) {
		c.Peers[0].Fallback, c.Peers[0].Transparent = FallbackBlock, nil
	}, "Peers[0].Fallback", "nothing Transparent"},
	{"unknown fallback", func(c *Config) { c.Peers[0].Fallback = 7 }, "Peers[0].Fallback", "not an option"},
	{"negative fallback", func(c *Config) { c.Peers[0].Fallback = -1 }, "Peers[0].Fallback", "not an option"},
	{"fallback without a probe address", func(c *Config) {
		c.Peers[0].Fallback = FallbackInternet
		c.Peers[0].AllowedIPs = []netip.Prefix{pfx("10.0.0.0/30")}
	}, "Peers[0].Fallback", "/32 or /128"},
	{"interval below the floor", func(c *Config) {
		c.Peers[0].Fallback, c.Health.Interval = FallbackInternet, 10*time.Millisecond
	}, "Health.Interval", "out of range"},
	{"negative interval", func(c *Config) {
		c.Peers[0].Fallback, c.Health.Interval = FallbackInternet, -time.Second
	}, "Health.Interval", "out of range"},
	{"absurd interval", func(c *Config) {
		c.Peers[0].Fallback, c.Health.Interval = FallbackInternet, time.Hour
	}, "Health.Interval", "out of range"},
	{"negative fail after", func(c *Config) {
		c.Peers[0].Fallback, c.Health.FailAfter = FallbackInternet, -1
	}, "Health.FailAfter", "out of range"},
	{"absurd recover after", func(c *Config) {
		c.Peers[0].Fallback, c.Health.RecoverAfter = FallbackBlock, 1<<20
	}, "Health.RecoverAfter", "out of range"},
	{"health without a fallback", func(c *Config) { c.Health.FailAfter = 2 }, "Health", "no peer has a Fallback"},
}

func TestValidateFailover(t *testing.T) {
	expectRejected(t, failoverRejectCases)
	ok := articleA(PeerRouteRule)
	ok.Peers[0].Fallback = FallbackBlock
	ok.Health = HealthCheck{Interval: MinHealthInterval, FailAfter: 2, RecoverAfter: 1}
	if err := ok.Validate(); err != nil {
		t.Errorf("a valid failover config: %v", err)
	}
	names := articleA(PeerRouteRule)
	names.Peers[0].Fallback, names.Peers[0].Transparent, names.Peers[0].TransparentNames = FallbackInternet, nil, []string{"app.example.com"}
	if err := names.Validate(); err != nil {
		t.Errorf("a fallback with names only: %v", err)
	}
}

func TestFallbackStrings(t *testing.T) {
	for v, want := range map[fmtStringer]string{
		FallbackNone: "none", FallbackInternet: "internet", FallbackBlock: "block",
		PeerThroughTunnel: "tunnel", PeerFailedOver: "failed-over", PeerBlocked: "blocked",
	} {
		if v.String() != want {
			t.Errorf("%#v.String() = %q, want %q", v, v.String(), want)
		}
	}
}

type fmtStringer interface{ String() string }

// TestConfigStringFailover: the config's summary names a peer's Fallback
// and the Health settings, when set.
func TestConfigStringFailover(t *testing.T) {
	c := articleA(PeerRouteRule)
	if s := c.String(); strings.Contains(s, "fallback") || strings.Contains(s, "health") {
		t.Errorf("String() = %q without failover, want no fallback or health", s)
	}
	c.Peers[0].Fallback, c.Health.FailAfter = FallbackBlock, 2
	for _, want := range []string{"fallback block", "health every 500ms, fail after 2, recover after 3"} {
		if s := c.String(); !strings.Contains(s, want) {
			t.Errorf("String() = %q, want it to contain %q", s, want)
		}
	}
}
