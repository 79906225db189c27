//go:build linux

package transparent

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"github.com/wgtransparent/transparent/internal/resolve"
)

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// namedA is the article's A reaching app.example.com (and api.example.com)
// by name as well as B's public address.
func namedA() Config {
	c := articleA(PeerRouteRule)
	c.Peers[0].TransparentNames = []string{"App.Example.com.", "api.example.com"}
	return c
}

// TestNamesEffectiveConfig checks the config Up applies for names,
// without root: each routed address becomes a host prefix of its peer's
// Transparent, and so a rule, a route, an AllowedIPs entry and a SNAT
// rule; addresses a Transparent prefix or another name already routes,
// and those of a family without a tunnel address, are left out; the
// config itself is not changed.
func TestNamesEffectiveConfig(t *testing.T) {
	c := namedA()
	c.SNAT = SNATOutbound
	c.Peers[0].Transparent = append(c.Peers[0].Transparent, pfx("192.0.2.0/28"))
	routed := routedNames{
		"app.example.com": addrs("198.18.0.2", "198.18.0.3", "203.0.113.2", "2001:db8:b::2"),
		"api.example.com": addrs("192.0.2.5", "198.18.0.3", "198.18.0.9"),
	}
	before := slices.Clone(c.Peers[0].Transparent)
	e := effectiveConfig(c.WithDefaults(), routed)
	if !slices.Equal(c.Peers[0].Transparent, before) {
		t.Errorf("effectiveConfig changed the config's Transparent: %v", c.Peers[0].Transparent)
	}
	want := []netip.Prefix{pfx("203.0.113.2/32"), pfx("192.0.2.0/28"), pfx("198.18.0.2/32"), pfx("198.18.0.3/32"), pfx("198.18.0.9/32")}
	if got := e.Peers[0].Transparent; !slices.Equal(got, want) {
		t.Errorf("effective Transparent = %v, want %v", got, want)
	}
	var rules []string
	for _, r := range desiredRules(e) {
		rules = append(rules, r.String())
	}
	for _, w := range []string{"rule 456 to 198.18.0.2/31 lookup 123", "rule 456 to 198.18.0.9/32 lookup 123"} {
		if !slices.Contains(rules, w) {
			t.Errorf("rules %q lack %q", rules, w)
		}
	}
	if got := deviceAllowedIPs(e.Peers[0]); !slices.Contains(got, pfx("198.18.0.9/32")) {
		t.Errorf("device AllowedIPs %v lack 198.18.0.9/32", got)
	}
	snat := desiredSNAT(e, map[int]netip.Addr{inet.Family(publicA): publicA})
	if len(snat) != 1 || !slices.ContainsFunc(snat[0].rules, func(r netfilter.NATRule) bool { return r.Dst == pfx("198.18.0.9/32") }) {
		t.Errorf("SNAT chains %v lack a rule to 198.18.0.9/32", snat)
	}
	if plain := articleA(PeerRouteRule); !slices.Equal(effectiveConfig(plain, routed).Peers[0].Transparent, plain.Peers[0].Transparent) {
		t.Errorf("a config without names changed")
	}
}

var publicA = netip.MustParseAddr("198.51.100.1")

// TestNamesCheckAnswer checks which answers are refused: an address of
// the tunnel (Addresses, AllowedIPs) or of another peer; a peer's
// endpoint is fine, as in Transparent.
func TestNamesCheckAnswer(t *testing.T) {
	c := namedA()
	c.Addresses = []netip.Prefix{pfx("10.0.0.1/24")}
	c.Peers = append(c.Peers, Peer{
		PublicKey: testKey(3).PublicKey(), Endpoint: netip.MustParseAddrPort("192.0.2.7:51823"),
		AllowedIPs: []netip.Prefix{pfx("10.1.0.3/32")}, Transparent: []netip.Prefix{pfx("192.0.2.0/28")},
		TransparentNames: []string{"other.example.net"},
	})
	routed := routedNames{"other.example.net": addrs("198.18.7.7")}
	for _, tc := range []struct {
		addr, want string
	}{
		{"203.0.113.2", ""}, // B's endpoint and public address, as in the article
		{"198.18.0.1", ""},
		{"10.0.0.77", "inside Addresses[0] 10.0.0.1/24"},
		{"10.1.0.3", "inside Peers[1].AllowedIPs[0] 10.1.0.3/32"},
		{"192.0.2.5", "already routed to Peers[1] by its Transparent[0] 192.0.2.0/28"},
		{"198.18.7.7", "also an address of other.example.net, routed to Peers[1]"},
		{"203.0.113.53", "is the name server that resolves the names"}, // issue 23.5: it would lock DNS out
	} {
		err := checkAnswer(c, "app.example.com", addrs("198.18.0.50", tc.addr), routed, netip.MustParseAddr("203.0.113.53"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.addr)):
			t.Errorf("%s: error %v, want one naming the address and %q", tc.addr, err, tc.want)
		}
	}
	// The other peer's name may have its own Transparent's addresses.
	if err := checkAnswer(c, "other.example.net", addrs("192.0.2.5"), routed, netip.Addr{}); err != nil {
		t.Errorf("own Transparent: %v", err)
	}
}

// TestNamesPlanLines checks the plan's line for a name: keep, with the
// addresses, TTL, leaving and unrouted addresses; replace for Check when
// the answer moved.
func TestNamesPlanLines(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := nameLine{name: "app.example.com", addrs: addrs("203.0.113.2", "203.0.113.3"), ttl: 30 * time.Second,
		leaving: []resolve.Leaving{{Addr: netip.MustParseAddr("203.0.113.1"), Until: now.Add(90 * time.Second)}}}
	got := l.change(true, now)
	want := "name app.example.com: 203.0.113.2, 203.0.113.3 (ttl 30s); 203.0.113.1 leaving, routed for 1m30s more"
	if got.Op != OpKeep || got.Step != want || got.Command != "# "+want {
		t.Errorf("line = %+v, want keep %q", got, want)
	}
	l.moved, l.was, l.leaving, l.unrouted = true, addrs("203.0.113.1"), nil, addrs("2001:db8::5")
	got = l.change(true, now)
	want = "name app.example.com: answer moved to 203.0.113.2, 203.0.113.3 (ttl 30s), was 203.0.113.1; not routed, no tunnel address of their family in Addresses: 2001:db8::5"
	if got.Op != OpReplace || got.Step != want {
		t.Errorf("moved line = %+v, want replace %q", got, want)
	}
	if got := l.change(false, now); got.Op != OpKeep {
		t.Errorf("Plan's line for a moved answer: %s, want keep (Up resolves it)", got.Op)
	}
}

// TestNamesValidate checks the field errors of bad names.
func TestNamesValidate(t *testing.T) {
	for _, tc := range []struct {
		names []string
		field string
		want  string
	}{
		{[]string{"app_1.example.com"}, "Peers[0].TransparentNames[0]", "character '_'"},
		{[]string{"app"}, "Peers[0].TransparentNames[0]", "single label"},
		{[]string{"203.0.113.9"}, "Peers[0].TransparentNames[0]", "put it in Transparent as 203.0.113.9/32"},
		{[]string{"ok.example.com", ""}, "Peers[0].TransparentNames[1]", "empty name"},
		{[]string{"app.example.com", "APP.example.com."}, "Peers[0].TransparentNames[1]", "already listed in Peers[0].TransparentNames[0]"},
	} {
		c := namedA()
		c.Peers[0].TransparentNames = tc.names
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Problem, tc.want) || fe.Fix == "" || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%q: Validate = %v, want a field error for %s saying %q", tc.names, err, tc.field, tc.want)
		}
	}
	c := namedA()
	c.Peers[0].Transparent, c.Peers[0].Endpoint = nil, netip.AddrPort{}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Peers[0].Endpoint: not set, but TransparentNames is") {
		t.Errorf("names without an endpoint in ExceptionPort mode: %v", err)
	}
	c = namedA()
	c.SNAT, c.PublicAddresses = SNATInbound, []netip.Addr{publicA}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Peers[0].TransparentNames: set with SNATInbound") {
		t.Errorf("names with SNATInbound: %v", err)
	}
	c = namedA()
	c.Peers[0].Transparent = nil
	c.SNAT = SNATOutbound
	if err := c.Validate(); err != nil {
		t.Errorf("names alone with SNATOutbound: %v", err)
	}
}

// nameScenarios are the state scenarios of names (TestStates): the
// configs are what Up applies for the names' answers (effectiveConfig),
// so the plans show that an answer's change is a small change.
func nameScenarios() []stateScenario {
	c := namedA()
	c.Peers[0].Transparent = nil
	at := func(c Config, app ...string) Config {
		return effectiveConfig(c, routedNames{"app.example.com": addrs(app...), "api.example.com": addrs("198.18.1.1")})
	}
	snat := c
	snat.SNAT = SNATOutbound
	table := c
	table.Rules = RulesTable
	return []stateScenario{
		{name: "names resolved", configs: []Config{at(c, "203.0.113.2", "198.18.0.2")}},
		{name: "names: an address joins and one leaves", configs: []Config{at(c, "203.0.113.2", "198.18.0.2"), at(c, "203.0.113.2", "198.18.0.5")}},
		{name: "names: snat follows the answer", configs: []Config{at(snat, "198.18.0.2"), at(snat, "198.18.0.5")}, fw: FirewallNftables},
		{name: "names: table rules follow the answer", configs: []Config{at(table, "198.18.0.2"), at(table, "198.18.0.5")}},
		{name: "names: an ipv6 answer without an ipv6 address", configs: []Config{at(c, "198.18.0.2", "2001:db8:b::2")}},
	}
}
