//go:build linux

package transparent

import (
	"net/netip"
)

// failoverScenarios are the state scenarios of Fallback: the kill
// switch's unreachable routes, and the routes of a peer that failed over
// and came back, in both rule modes, both IP families and a full tunnel.
func failoverScenarios() []stateScenario {
	fallback := func(c Config, f Fallback) Config {
		return with(c, func(c *Config) {
			for i := range c.Peers {
				c.Peers[i].Fallback = f
			}
		})
	}
	rule := articleA(PeerRouteRule)
	rule.Peers[0].Transparent = append(rule.Peers[0].Transparent, pfx("192.0.2.0/28"))
	table := with(rule, func(c *Config) { c.Rules = RulesTable })
	dual := with(rule, func(c *Config) {
		c.Addresses = append(c.Addresses, pfx("fd00::1/128"))
		c.Peers[0].AllowedIPs = append(c.Peers[0].AllowedIPs, pfx("fd00::2/128"))
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, pfx("2001:db8:b::2/128"))
	})
	full := with(rule, func(c *Config) { c.Peers[0].Transparent = []netip.Prefix{pfx("0.0.0.0/0")} })
	hub := with(rule, func(c *Config) {
		c.Peers = append(c.Peers, Peer{
			PublicKey:   testKey(3).PublicKey(),
			Endpoint:    netip.MustParseAddrPort("192.0.2.77:51823"),
			AllowedIPs:  []netip.Prefix{pfx("10.0.0.3/32")},
			Transparent: []netip.Prefix{pfx("198.18.0.7/32")},
		})
	})
	block, internet := fallback(rule, FallbackBlock), fallback(rule, FallbackInternet)
	tableBlock, tableInternet := fallback(table, FallbackBlock), fallback(table, FallbackInternet)
	dualBlock, fullBlock := fallback(dual, FallbackBlock), fallback(full, FallbackBlock)
	hubMixed := with(hub, func(c *Config) { c.Peers[0].Fallback, c.Peers[1].Fallback = FallbackBlock, FallbackInternet })
	healthy, failed := []int(nil), []int{0}
	return []stateScenario{
		{name: "failover: block from nothing", configs: []Config{block}},
		{name: "failover: block in table mode", configs: []Config{tableBlock}},
		{name: "failover: block dual stack", configs: []Config{dualBlock}},
		{name: "failover: block full tunnel", configs: []Config{fullBlock}},
		{name: "failover: block on", configs: []Config{rule, block}},
		{name: "failover: block off", configs: []Config{block, rule}},
		{name: "failover: internet from nothing", configs: []Config{internet}},
		{name: "failover: internet failed over", configs: []Config{internet, internet}, unhealthy: [][]int{healthy, failed}},
		{name: "failover: internet failed back", configs: []Config{internet, internet, internet}, unhealthy: [][]int{healthy, failed, healthy}},
		{name: "failover: internet failed over in table mode", configs: []Config{tableInternet, tableInternet}, unhealthy: [][]int{healthy, failed}},
		{name: "failover: block failed over", configs: []Config{block, block}, unhealthy: [][]int{healthy, failed}},
		{name: "failover: block failed back", configs: []Config{block, block, block}, unhealthy: [][]int{healthy, failed, healthy}},
		{name: "failover: block failed over in table mode", configs: []Config{tableBlock, tableBlock}, unhealthy: [][]int{healthy, failed}},
		{name: "failover: block failed over dual stack", configs: []Config{dualBlock, dualBlock}, unhealthy: [][]int{healthy, failed}},
		{name: "failover: block full tunnel failed over", configs: []Config{fullBlock, fullBlock}, unhealthy: [][]int{healthy, failed}},
		{name: "failover: up of a failed-over peer from nothing", configs: []Config{internet}, unhealthy: [][]int{failed}},
		{name: "failover: hub, one peer blocked", configs: []Config{hubMixed, hubMixed}, unhealthy: [][]int{healthy, {0}}},
		{name: "failover: hub, the other failed over", configs: []Config{hubMixed, hubMixed}, unhealthy: [][]int{healthy, {1}}},
		{name: "failover: block, link deleted", configs: []Config{block, block}, change: func(k kernel, name string) { k.DeleteLink(name) }},
		{name: "failover: block down", configs: []Config{block, block}, down: true},
		{name: "failover: block down while failed over", configs: []Config{block, block}, unhealthy: [][]int{failed, failed}, down: true},
	}
}
