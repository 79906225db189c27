package wgquick

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wgtransparent/transparent"
)

// blockMetric is the metric of the kill switch's unreachable routes, the
// library's BlockMetric (declared for Linux only, and this package builds
// everywhere); a test on Linux checks that they agree.
const blockMetric = 4096

// [Peer] Fallback and the [Interface] Health keys.

func (p *parser) setFallback(line int, key, value string) {
	v, ok := choice(p, line, key, value, map[string]transparent.Fallback{
		"none": transparent.FallbackNone, "internet": transparent.FallbackInternet, "block": transparent.FallbackBlock})
	if !ok {
		return
	}
	i, f := p.peer()
	p.cfg.Peers[i].Fallback = v
	p.at[f+".Fallback"] = source{line, key}
}

func (p *parser) setHealthInterval(line int, key, value string) {
	d, err := parseInterval(value)
	if err != nil {
		p.fail(line, key, err.Error(), fmt.Sprintf("write a duration from %s to %s, such as 500ms or 2s, or remove the line for %s",
			transparent.MinHealthInterval, transparent.MaxHealthInterval, transparent.DefaultHealthInterval), nil)
		return
	}
	p.cfg.Health.Interval = d
	p.setHealth(line, key, "Interval")
}

func (p *parser) setHealthFailAfter(line int, key, value string) {
	if n, ok := p.healthCount(line, key, value, transparent.DefaultHealthFailAfter); ok {
		p.cfg.Health.FailAfter = n
		p.setHealth(line, key, "FailAfter")
	}
}

func (p *parser) setHealthRecoverAfter(line int, key, value string) {
	if n, ok := p.healthCount(line, key, value, transparent.DefaultHealthRecoverAfter); ok {
		p.cfg.Health.RecoverAfter = n
		p.setHealth(line, key, "RecoverAfter")
	}
}

// setHealth records where Health's field came from; Health itself is
// where its first key is.
func (p *parser) setHealth(line int, key, field string) {
	p.at["Health."+field] = source{line, key}
	if _, ok := p.at["Health"]; !ok {
		p.at["Health"] = source{line, key}
	}
}

// healthCount reads a count of intervals: 1 to MaxHealthCount (0 would
// mean the default to the library, which a file says by leaving the line
// out).
func (p *parser) healthCount(line int, key, value string, def int) (int, bool) {
	n, err := strconv.ParseUint(value, 10, 32)
	if err != nil || n == 0 || n > transparent.MaxHealthCount {
		p.fail(line, key, fmt.Sprintf("%q is not a count of intervals", value),
			fmt.Sprintf("use 1 to %d, or remove the line for %d", transparent.MaxHealthCount, def), nil)
		return 0, false
	}
	return int(n), true
}

// parseInterval reads a positive duration as Go writes it ("500ms",
// "1.5s"), or a whole number of seconds.
func parseInterval(s string) (time.Duration, error) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return d, nil
}

// blockCmd is the kill switch's route, as a plain wg-quick host writes it:
// `ip [-4|-6] route add|del unreachable DST table T metric M [proto P]`.
type blockCmd struct {
	del    bool
	v6     bool
	dst    netip.Prefix
	table  int
	metric int
}

func parseBlock(cmd string) (r blockCmd, ok bool) {
	args, fam, ok := ipCommand(cmd, "route")
	if !ok || len(args) < 3 || args[1] != "unreachable" {
		return r, false
	}
	if r.del, ok = parseVerb(args[0]); !ok {
		return r, false
	}
	dst, err := parsePrefix(args[2])
	if err != nil || fam != 0 && dst.Addr().Is6() != (fam == 6) {
		return r, false
	}
	r.dst, r.v6 = dst, dst.Addr().Is6()
	rest := args[3:]
	if len(rest)%2 != 0 {
		return r, false
	}
	seen := map[string]bool{}
	for i := 0; i < len(rest); i += 2 {
		k, v := rest[i], rest[i+1]
		if seen[k] {
			return r, false
		}
		seen[k] = true
		switch k {
		case "table":
			r.table, err = parseTable(v)
		case "metric", "preference", "priority":
			var n uint64
			n, err = parseUint(v, 32)
			r.metric = int(n)
		case "proto", "protocol": // the library's own marks its routes; either way the route is the same
		default:
			return r, false
		}
		if err != nil {
			return r, false
		}
	}
	return r, seen["table"] && r.table != 0
}

func (r blockCmd) String() string {
	return fmt.Sprintf("%sroute %s unreachable %s table %d metric %d", ipPrefix(r.v6), verb(r.del, "add", "del"), addrString(r.dst), r.table, r.metric)
}

// recognizeBlocks reads the kill switch as a plain wg-quick host writes
// it (Render does): an unreachable route in Table at the library's block
// metric, per Transparent destination of a peer, which refuses the
// traffic whenever the device's routes are gone. Such routes make the
// peer's Fallback block.
func (p *parser) recognizeBlocks() {
	found := map[int]*hook{} // first hook per peer
	for _, h := range p.hooks {
		r := h.block
		if h.done || !h.up() || r == nil || r.del || r.table != p.cfg.Table || r.metric != blockMetric {
			continue
		}
		i := slices.IndexFunc(p.cfg.Peers, func(peer transparent.Peer) bool { return containsPrefix(peer.Transparent, r.dst) })
		if i < 0 {
			p.fail(h.line, h.kind, fmt.Sprintf("%s: %s is no peer's Transparent destination", h.cmd, r.dst),
				"add it to the Transparent destinations of the peer whose traffic it blocks, or remove the hook", nil)
			h.done = true
			continue
		}
		field := fmt.Sprintf("Peers[%d].Fallback", i)
		if at, set := p.at[field]; set && p.cfg.Peers[i].Fallback != transparent.FallbackBlock {
			p.fail(h.line, h.kind, fmt.Sprintf("%s means Fallback block, but %s line %d says %s", h.cmd, at.key, at.line, p.cfg.Peers[i].Fallback),
				"remove the hook or the key", nil)
			h.done = true
			continue
		}
		if _, ok := found[i]; !ok {
			found[i] = h
		}
		p.consume(h, "Fallback block of [Peer] line %d (its kill switch for %s)", p.peers[i].section, r.dst)
	}
	for i, h := range found {
		field := fmt.Sprintf("Peers[%d].Fallback", i)
		if _, set := p.at[field]; set {
			continue // the key says block: the hooks agree
		}
		p.cfg.Peers[i].Fallback = transparent.FallbackBlock
		p.at[field] = source{h.line, h.kind}
		for _, t := range p.cfg.Peers[i].Transparent {
			want := blockCmd{v6: t.Addr().Is6(), dst: t.Masked(), table: p.cfg.Table, metric: blockMetric}
			if !slices.ContainsFunc(p.hooks, func(x *hook) bool { return x.block != nil && x.up() && *x.block == want }) {
				p.fail(h.line, h.kind, fmt.Sprintf("the kill switch of [Peer] line %d has no unreachable route for its Transparent %s", p.peers[i].section, t),
					fmt.Sprintf("add `PreUp = %s`, or write Fallback = block in the [Peer] section", want), nil)
			}
		}
	}
}

// blockHooks are the kill switch's routes of the peers with Fallback
// block, each with its undo, for Render.
func blockHooks(c transparent.Config) []hookLine {
	var out []hookLine
	for _, peer := range c.Peers {
		if peer.Fallback != transparent.FallbackBlock {
			continue
		}
		for _, t := range peer.Transparent {
			add := blockCmd{v6: t.Addr().Is6(), dst: t.Masked(), table: c.Table, metric: blockMetric}
			del := add
			del.del = true
			h := hookLine{"PreUp", add.String()}
			if !slices.Contains(out, h) {
				out = append(out, h, hookLine{"PostDown", del.String()})
			}
		}
	}
	return out
}

// failoverComments are Render's words on failover: what the plain file
// keeps of a peer's Fallback block, and that failing over needs
// wg-transparent.
func failoverComments(c transparent.Config) []string {
	var out []string
	for i, peer := range c.Peers {
		if peer.Fallback == transparent.FallbackBlock {
			out = append(out, fmt.Sprintf("# Fallback block of [Peer] %d: the unreachable routes above refuse its Transparent destinations whenever the device is gone; blocking them while the peer is up but unhealthy needs wg-transparent (plain wg-quick judges no health)", i+1))
		}
	}
	return out
}

// failoverGaps are the failover settings plain wg-quick cannot carry:
// failing over to the Internet, and the health settings.
func failoverGaps(c transparent.Config) []string {
	var gaps []string
	for i, peer := range c.Peers {
		if peer.Fallback == transparent.FallbackInternet {
			gaps = append(gaps, fmt.Sprintf("Fallback internet of [Peer] %d: failover needs wg-transparent (plain wg-quick keeps the routes to a dead peer)", i+1))
		}
	}
	if h := c.Health; h != (transparent.HealthCheck{}) {
		gaps = append(gaps, "Health"+strings.Join(healthKeys(h), ", Health")+": failover needs wg-transparent")
	}
	return gaps
}

// healthKeys writes h's non-zero settings as the file's keys, without
// their "Health" prefix: "Interval = 1s".
func healthKeys(h transparent.HealthCheck) []string {
	var out []string
	if h.Interval != 0 {
		out = append(out, "Interval = "+h.Interval.String())
	}
	if h.FailAfter != 0 {
		out = append(out, "FailAfter = "+strconv.Itoa(h.FailAfter))
	}
	if h.RecoverAfter != 0 {
		out = append(out, "RecoverAfter = "+strconv.Itoa(h.RecoverAfter))
	}
	return out
}
