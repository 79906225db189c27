package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// variant is one way of adding (or deleting) N rules.
type variant struct {
	name, desc string
	run        func(w *world, n int) (timing, error)
}

var variants = []variant{
	{"ruleadd", "netlink.RuleAdd as the library calls it (NLM_F_CREATE|NLM_F_EXCL), one request and ack per rule", runRuleAdd},
	{"excl", "the same request built by hand, NLM_F_CREATE|NLM_F_EXCL (the control for noexcl)", runRaw(flagsExcl, false)},
	{"noexcl", "the same request without NLM_F_EXCL (NLM_F_CREATE only): no rule_exists() walk", runRaw(flagsNoExcl, false)},
	{"noexcl-batch", "without NLM_F_EXCL, 1000 requests per sendmsg (pipelined), acks read after each batch", runBatch},
	{"prio-dec-noexcl", "one priority per rule, decreasing (each rule goes before all others), without NLM_F_EXCL", runRaw(flagsNoExcl, true)},
	{"ip-batch", "`ip -n NS -batch FILE` of 'rule add to X table 123 priority 456' lines (NLM_F_EXCL), one ip process per 1000 rules", runIPBatch},
	{"routes", "netlink.RouteAdd 198.18.x.y/32 dev lo table 123 (NLM_F_CREATE|NLM_F_EXCL), no rules", runRoutes},
	{"routes-lib", "as routes, with a netlink.LinkByName before each RouteAdd (the library's addRoute step before batching)", runRoutesLib},
	{"routes-batch", "the same route requests built by hand, 1000 per sendmsg, acks read after each batch (the library's batched route steps)", runRoutesBatch},
	{"del-fwd", "netlink.RuleDel of N rules, the oldest first (the adds are untimed)", runDel(false)},
	{"del-rev", "netlink.RuleDel of N rules, the newest first (the adds are untimed)", runDel(true)},
}

const (
	flagsExcl   = unix.NLM_F_CREATE | unix.NLM_F_EXCL // netlink.RuleAdd, ip rule add
	flagsNoExcl = unix.NLM_F_CREATE
)

// scattered returns the i-th destination: 198.18.0.1, .3, .5, ... and
// beyond 198.18.0.0/15, 100.64.0.1, .3, ... (RFC 6598's shared space).
func scattered(i int) netip.Addr {
	var b [4]byte
	if i < 1<<16 {
		binary.BigEndian.PutUint32(b[:], 198<<24|18<<16+uint32(2*i+1))
	} else {
		binary.BigEndian.PutUint32(b[:], 100<<24|64<<16+uint32(2*(i-1<<16)+1))
	}
	return netip.AddrFrom4(b)
}

func ipNet(a netip.Addr) *net.IPNet { return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)} }

// libRule is the rule as the library builds it for netlink.RuleAdd.
func libRule(dst netip.Addr) *netlink.Rule {
	r := netlink.NewRule()
	r.Family, r.Dst, r.Table, r.Priority = unix.AF_INET, ipNet(dst), table, priority
	return r
}

// ruleRequest builds the RTM_NEWRULE request that netlink.RuleAdd sends
// for libRule(dst) (struct fib_rule_hdr in the rtmsg layout: family,
// dst_len 32, table, action FR_ACT_TO_TBL; FRA_DST, FRA_PRIORITY), with
// the priority and the NLM_F_* flags given.
func ruleRequest(dst netip.Addr, pref int, flags uint16) *nl.NetlinkRequest {
	req := &nl.NetlinkRequest{NlMsghdr: unix.NlMsghdr{
		Len:   unix.SizeofNlMsghdr,
		Type:  unix.RTM_NEWRULE,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | flags,
	}}
	msg := nl.NewRtMsg()
	msg.Family, msg.Dst_len, msg.Table, msg.Type = unix.AF_INET, 32, table, unix.RTN_UNICAST // = FR_ACT_TO_TBL
	req.AddData(msg)
	d := dst.As4()
	req.AddData(nl.NewRtAttr(unix.FRA_DST, d[:]))
	req.AddData(nl.NewRtAttr(unix.FRA_PRIORITY, nl.Uint32Attr(uint32(pref))))
	return req
}

func requests(n int, flags uint16, decreasing bool) []*nl.NetlinkRequest {
	reqs := make([]*nl.NetlinkRequest, n)
	for i := range reqs {
		pref := priority
		if decreasing {
			pref = 1000 + n - 1 - i
		}
		reqs[i] = ruleRequest(scattered(i), pref, flags)
	}
	return reqs
}

func runRuleAdd(w *world, n int) (timing, error) {
	rules := make([]*netlink.Rule, n)
	for i := range rules {
		rules[i] = libRule(scattered(i))
	}
	return expectRules(w, n)(timeEach(n, func(i int) error { return w.h.RuleAdd(rules[i]) }))
}

func runRaw(flags uint16, decreasing bool) func(w *world, n int) (timing, error) {
	return func(w *world, n int) (timing, error) {
		reqs := requests(n, flags, decreasing)
		return expectRules(w, n)(timeEach(n, func(i int) error { return w.send(reqs[i]) }))
	}
}

func runBatch(w *world, n int) (timing, error) {
	reqs := requests(n, flagsNoExcl, false)
	return expectRules(w, n)(timeChunks(n, func(lo, hi int) error { return w.sendBatch(reqs[lo:hi]) }))
}

func runIPBatch(w *world, n int) (timing, error) {
	dir, err := os.MkdirTemp("", "rulecost-batch-")
	if err != nil {
		return timing{}, err
	}
	defer os.RemoveAll(dir)
	for lo := 0; lo < n; lo += window {
		var b strings.Builder
		for i := lo; i < min(lo+window, n); i++ {
			fmt.Fprintf(&b, "rule add to %s/32 table %d priority %d\n", scattered(i), table, priority)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(lo)), []byte(b.String()), 0o644); err != nil {
			return timing{}, err
		}
	}
	return expectRules(w, n)(timeChunks(n, func(lo, _ int) error {
		if out, err := exec.Command("ip", "-n", w.Name, "-batch", filepath.Join(dir, fmt.Sprint(lo))).CombinedOutput(); err != nil {
			return fmt.Errorf("ip -batch: %v: %s", err, out)
		}
		return nil
	}))
}

func runRoutes(w *world, n int) (timing, error) {
	routes := make([]*netlink.Route, n)
	for i := range routes {
		routes[i] = &netlink.Route{Dst: ipNet(scattered(i)), LinkIndex: w.lo.Attrs().Index, Table: table, Scope: netlink.SCOPE_LINK}
	}
	t, err := timeEach(n, func(i int) error { return w.h.RouteAdd(routes[i]) })
	if err != nil {
		return t, err
	}
	got, err := w.h.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err == nil && len(got) != n {
		err = fmt.Errorf("table %d has %d routes after adding %d", table, len(got), n)
	}
	return t, err
}

func runDel(newestFirst bool) func(w *world, n int) (timing, error) {
	return func(w *world, n int) (timing, error) {
		reqs := requests(n, flagsNoExcl, false)
		for lo := 0; lo < n; lo += window {
			if err := w.sendBatch(reqs[lo:min(lo+window, n)]); err != nil {
				return timing{}, fmt.Errorf("untimed adds: %w", err)
			}
		}
		if _, err := expectRules(w, n)(timing{}, nil); err != nil {
			return timing{}, fmt.Errorf("untimed adds: %w", err)
		}
		rules := make([]*netlink.Rule, n)
		for i := range rules {
			k := i
			if newestFirst {
				k = n - 1 - i
			}
			rules[i] = libRule(scattered(k))
		}
		return expectRules(w, 0)(timeEach(n, func(i int) error { return w.h.RuleDel(rules[i]) }))
	}
}

// expectRules checks, after a timed run, that the namespace holds n rules
// besides the three default ones.
func expectRules(w *world, n int) func(timing, error) (timing, error) {
	return func(t timing, err error) (timing, error) {
		if err != nil {
			return t, err
		}
		got, err := w.countRules()
		if err == nil && got != n+3 {
			err = fmt.Errorf("%d IPv4 rules in the namespace, want %d", got, n+3)
		}
		return t, err
	}
}

func runRoutesLib(w *world, n int) (timing, error) {
	routes := make([]*netlink.Route, n)
	for i := range routes {
		routes[i] = &netlink.Route{Dst: ipNet(scattered(i)), Table: table, Scope: netlink.SCOPE_LINK}
	}
	return expectRoutes(w, n)(timeEach(n, func(i int) error {
		l, err := w.h.LinkByName("lo")
		if err != nil {
			return err
		}
		routes[i].LinkIndex = l.Attrs().Index
		return w.h.RouteAdd(routes[i])
	}))
}

func runRoutesBatch(w *world, n int) (timing, error) {
	reqs := routeRequests(w, n)
	return expectRoutes(w, n)(timeChunks(n, func(lo, hi int) error { return w.sendBatch(reqs[lo:hi]) }))
}

func routeRequests(w *world, n int) []*nl.NetlinkRequest {
	reqs := make([]*nl.NetlinkRequest, n)
	for i := range reqs {
		req := &nl.NetlinkRequest{NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  unix.RTM_NEWROUTE,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | flagsExcl,
		}}
		msg := nl.NewRtMsg()
		msg.Family, msg.Dst_len, msg.Table, msg.Scope = unix.AF_INET, 32, table, unix.RT_SCOPE_LINK
		req.AddData(msg)
		d := scattered(i).As4()
		req.AddData(nl.NewRtAttr(unix.RTA_DST, d[:]))
		req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(w.lo.Attrs().Index))))
		reqs[i] = req
	}
	return reqs
}

// expectRoutes checks that table has n routes after a variant.
func expectRoutes(w *world, n int) func(timing, error) (timing, error) {
	return func(t timing, err error) (timing, error) {
		if err != nil {
			return t, err
		}
		got, err := w.h.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err == nil && len(got) != n {
			err = fmt.Errorf("table %d has %d routes after adding %d", table, len(got), n)
		}
		return t, err
	}
}
