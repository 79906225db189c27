// Command rulecost measures what N IPv4 policy rules cost to add and to
// delete, to find where the super-linear cost of scattered destinations
// comes from (issue 7, docs/BENCHMARKS.md).
//
// Every measurement runs in a fresh network namespace that rulecost creates
// (ip netns add wgt-rulecost-<pid>) and deletes afterwards, also on error and
// on SIGINT/SIGTERM; it never touches the namespace it was started in. It
// adds N rules "to 198.18.x.y/32 table 123 priority 456" (198.18.0.1, .3,
// .5, ...: no two aggregate) in one of several ways (the variants, see
// -list) and records the total time and the time of the first and of the
// last 1000 operations: if every operation walks a list as long as what is
// already there, the last ones cost much more than the first ones.
//
//	rulecost -n 1000,2000,5000,10000,20000 -reps 3 -out bench/results/rulecost
//	rulecost -list    # the variants
//
// bench/rulecost.sh builds and runs it and records the machine.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

const (
	table    = 123 // the rules' table, as in the library's examples
	priority = 456 // the rules' priority, as in the issue
	// The unrelated rules of the prefill variants: other destinations,
	// another table.
	otherTable = 200
	// Operations per timing window (first and last) and per pipelined
	// sendmsg.
	window = 1000
)

var (
	ipBin   = "ip"
	verbose bool
)

func main() {
	var (
		nList    = flag.String("n", "1000,2000,5000,10000,20000", "comma-separated numbers of rules (each at least 1000)")
		reps     = flag.Int("reps", 3, "repetitions of each measurement (the summary shows the median)")
		variants = flag.String("variants", "all", "comma-separated variants to run, or all (see -list)")
		out      = flag.String("out", "bench/results/rulecost", "directory for raw.csv and summary.md")
		list     = flag.Bool("list", false, "list the variants and exit")
		pause    = flag.Duration("pause", 300*time.Millisecond, "pause after deleting each namespace (the kernel frees it in the background)")
		from     = flag.String("from", "", "do not measure: rewrite summary.md from this raw.csv (the duplicate check runs again)")
	)
	flag.StringVar(&ipBin, "ip", ipBin, "the ip(8) binary")
	flag.BoolVar(&verbose, "v", false, "print every measurement")
	flag.Parse()

	if *list {
		for _, v := range allVariants {
			fmt.Printf("%-16s %s\n", v.name, v.desc)
		}
		return
	}
	ns, err := parseInts(*nList)
	if err != nil {
		fatal(err)
	}
	for _, n := range ns {
		if n < window || n > 60000 {
			fatal(fmt.Errorf("-n %d: each N must be between %d and 60000 (198.18.0.0/15 stride 2)", n, window))
		}
	}
	chosen, err := pickVariants(*variants)
	if err != nil {
		fatal(err)
	}
	if os.Geteuid() != 0 {
		fatal(errors.New("rulecost creates network namespaces: run it as root"))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	// Per-operation times are in the microseconds; keep the collector out
	// of them as far as possible.
	debug.SetGCPercent(400)

	host, err := netns.Get()
	if err != nil {
		fatal(err)
	}
	defer host.Close()
	handleSignals()

	// The semantics first: what a duplicate add does with and without
	// NLM_F_EXCL, and which flags ip(8) uses.
	dup, err := duplicateCheck(host)
	if err != nil {
		fatal(fmt.Errorf("duplicate check: %w", err))
	}
	fmt.Print(dup)

	if *from != "" {
		results, err := readRaw(*from)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("wrote %s from %s\n", writeSummary(*out, summary(results, chosen, ns, *reps, dup)), *from)
		return
	}

	rawPath := filepath.Join(*out, "raw.csv")
	raw, err := os.Create(rawPath)
	if err != nil {
		fatal(err)
	}
	defer raw.Close()
	fmt.Fprintln(raw, "variant,n,rep,total_ns,first_ns,last_ns,window")

	var results []result
	start := time.Now()
	// Repetitions outermost and variants innermost, so that a load spike
	// on this shared machine hits all variants alike rather than one.
	for rep := 1; rep <= *reps; rep++ {
		for _, n := range ns {
			for _, v := range chosen {
				w, err := newWorld(host)
				if err != nil {
					fatal(fmt.Errorf("%s N=%d rep %d: %w", v.name, n, rep, err))
				}
				t, err := v.run(w, n)
				w.close()
				if err != nil {
					fatal(fmt.Errorf("%s N=%d rep %d: %w", v.name, n, rep, err))
				}
				time.Sleep(*pause)
				r := result{variant: v.name, n: n, rep: rep, timing: t}
				results = append(results, r)
				fmt.Fprintf(raw, "%s,%d,%d,%d,%d,%d,%d\n", v.name, n, rep, t.total.Nanoseconds(), t.first.Nanoseconds(), t.last.Nanoseconds(), window)
				if verbose {
					fmt.Printf("%-16s N=%-6d rep %d: total %-10s first %6.1f us/op, last %6.1f us/op\n",
						v.name, n, rep, t.total.Round(time.Microsecond), perOp(t.first), perOp(t.last))
				}
			}
		}
		fmt.Printf("repetition %d/%d done after %s\n", rep, *reps, time.Since(start).Round(time.Second))
	}
	if err := raw.Sync(); err != nil {
		fatal(err)
	}
	fmt.Printf("wrote %s and %s\n", rawPath, writeSummary(*out, summary(results, chosen, ns, *reps, dup)))
}

// writeSummary prints md and writes it to summary.md in dir, and returns
// that file's path.
func writeSummary(dir, md string) string {
	path := filepath.Join(dir, "summary.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		fatal(err)
	}
	fmt.Print(md)
	return path
}

// ---------------------------------------------------------------------------
// Namespaces.

// world is one fresh network namespace with a netlink handle and a second,
// raw netlink socket in it (for the hand-built requests).
type world struct {
	*testns.NS
	h   *netlink.Handle // the namespace's, from testns
	raw *nl.SocketHandle
	lo  netlink.Link
}

// session holds the namespace that exists now (testns names it
// wgt-rulecost-<pid>-<hex>, so that rulecost.sh can find it after a hard
// kill), so that fatal and the signal handler delete it.
var session = &testns.Session{}

func newWorld(host netns.NsHandle) (w *world, err error) {
	n := testns.New(session, fmt.Sprintf("rulecost-%d", os.Getpid()))
	w = &world{NS: n, h: n.Netlink()}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	s, err := nl.GetNetlinkSocketAt(w.Handle, host, unix.NETLINK_ROUTE)
	if err != nil {
		return w, err
	}
	w.raw = &nl.SocketHandle{Socket: s}
	// Acknowledgements of a pipelined batch queue up before they are read.
	if err := s.SetReceiveBufferSize(16<<20, true); err != nil {
		return w, err
	}
	// A fresh namespace has exactly the three default IPv4 rules (local,
	// main, default): anything else means this is not the namespace we
	// just created.
	rules, err := w.h.RuleList(unix.AF_INET)
	if err != nil {
		return w, err
	}
	if len(rules) != 3 {
		return w, fmt.Errorf("namespace %s has %d IPv4 rules, not the 3 of a fresh one: refusing", w.Name, len(rules))
	}
	w.lo, err = w.h.LinkByName("lo")
	return w, err
}

func (w *world) close() {
	if w.raw != nil {
		w.raw.Close()
	}
	w.Delete()
}

func handleSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-c
		session.Close()
		fmt.Fprintf(os.Stderr, "rulecost: %v: deleted its namespace, exiting\n", s)
		os.Exit(130)
	}()
}

func fatal(err error) {
	session.Close()
	fmt.Fprintln(os.Stderr, "rulecost:", err)
	os.Exit(1)
}

// ---------------------------------------------------------------------------
// Addresses and requests.

// scattered returns the i-th destination: 198.18.0.1, .3, .5, ...
func scattered(i int) netip.Addr { return nth(netip.MustParseAddr("198.18.0.0"), 2*i+1) }

// unrelated returns the i-th destination of the prefill rules: 10.0.0.1,
// .3, ...
func unrelated(i int) netip.Addr { return nth(netip.MustParseAddr("10.0.0.0"), 2*i+1) }

func nth(base netip.Addr, k int) netip.Addr {
	b := base.As4()
	v := binary.BigEndian.Uint32(b[:]) + uint32(k)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func ipNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}
}

// libRule is the rule as the library builds it for netlink.RuleAdd.
func libRule(dst netip.Addr, tbl, pref int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = unix.AF_INET
	r.Dst = ipNet(dst)
	r.Table = tbl
	r.Priority = pref
	return r
}

// ruleRequest builds the RTM_NEWRULE request that netlink.RuleAdd sends
// for libRule(dst, tbl, pref), with the header flags given: the same
// struct fib_rule_hdr (the rtmsg layout: family, dst_len 32, table,
// protocol boot, action FR_ACT_TO_TBL) and the same attributes (FRA_DST,
// FRA_PRIORITY), only the NLM_F_* flags differ.
func ruleRequest(dst netip.Addr, tbl, pref int, flags uint16) *nl.NetlinkRequest {
	req := &nl.NetlinkRequest{NlMsghdr: unix.NlMsghdr{
		Len:   unix.SizeofNlMsghdr,
		Type:  unix.RTM_NEWRULE,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | flags,
	}}
	msg := nl.NewRtMsg()
	msg.Family = unix.AF_INET
	msg.Dst_len = 32
	msg.Table = uint8(tbl)
	msg.Type = unix.RTN_UNICAST // = FR_ACT_TO_TBL
	req.AddData(msg)
	d := dst.As4()
	req.AddData(nl.NewRtAttr(unix.FRA_DST, d[:]))
	req.AddData(nl.NewRtAttr(unix.FRA_PRIORITY, nl.Uint32Attr(uint32(pref))))
	return req
}

const (
	flagsExcl   = unix.NLM_F_CREATE | unix.NLM_F_EXCL // netlink.RuleAdd, ip rule add
	flagsNoExcl = unix.NLM_F_CREATE
)

// send sends one request on the world's raw socket and waits for its
// acknowledgement.
func (w *world) send(req *nl.NetlinkRequest) error {
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: w.raw}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// sendBatch writes the requests in one sendmsg (the kernel processes them
// one after the other inside that call) and then reads their
// acknowledgements; it fails on the first error acknowledged.
func (w *world) sendBatch(reqs []*nl.NetlinkRequest) error {
	var buf []byte
	seq := make(map[uint32]bool, len(reqs))
	for _, r := range reqs {
		w.raw.Seq++
		r.Seq = w.raw.Seq
		seq[r.Seq] = true
		buf = append(buf, r.Serialize()...)
	}
	fd := w.raw.Socket.GetFd()
	if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	for len(seq) > 0 {
		msgs, from, err := w.raw.Socket.Receive()
		if err != nil {
			return fmt.Errorf("receive (%d acknowledgements missing): %w", len(seq), err)
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || !seq[m.Header.Seq] {
				continue
			}
			delete(seq, m.Header.Seq)
			if errno := int32(binary.NativeEndian.Uint32(m.Data[0:4])); errno != 0 {
				return fmt.Errorf("request %d: %w", m.Header.Seq, syscall.Errno(-errno))
			}
		}
	}
	return nil
}

// fill adds n rules quickly and untimed (pipelined, without NLM_F_EXCL).
func (w *world) fill(n int, addr func(int) netip.Addr, tbl, pref int) error {
	for lo := 0; lo < n; lo += window {
		hi := min(lo+window, n)
		reqs := make([]*nl.NetlinkRequest, 0, hi-lo)
		for i := lo; i < hi; i++ {
			reqs = append(reqs, ruleRequest(addr(i), tbl, pref, flagsNoExcl))
		}
		if err := w.sendBatch(reqs); err != nil {
			return err
		}
	}
	return nil
}

// countRules returns the number of IPv4 rules in the world.
func (w *world) countRules() (int, error) {
	rules, err := w.h.RuleList(unix.AF_INET)
	return len(rules), err
}

// ---------------------------------------------------------------------------
// Timing.

type timing struct {
	total       time.Duration // all N operations
	first, last time.Duration // the first and the last `window` operations
}

func perOp(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / window }

// timeEach times n operations one by one.
func timeEach(n int, op func(i int) error) (timing, error) {
	d := make([]time.Duration, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := op(i); err != nil {
			return timing{}, fmt.Errorf("operation %d of %d: %w", i+1, n, err)
		}
		d[i] = time.Since(t0)
	}
	t := timing{total: time.Since(start)}
	for i := 0; i < window; i++ {
		t.first += d[i]
		t.last += d[n-window+i]
	}
	return t, nil
}

// timeChunks times n operations in chunks of `window` (n is a multiple or
// the last chunk is shorter; the last full window is the last chunk only
// when n is a multiple of window, which the default Ns are).
func timeChunks(n int, chunk func(lo, hi int) error) (timing, error) {
	var d []time.Duration
	start := time.Now()
	for lo := 0; lo < n; lo += window {
		hi := min(lo+window, n)
		t0 := time.Now()
		if err := chunk(lo, hi); err != nil {
			return timing{}, fmt.Errorf("operations %d-%d of %d: %w", lo+1, hi, n, err)
		}
		d = append(d, time.Since(t0))
	}
	return timing{total: time.Since(start), first: d[0], last: d[len(d)-1]}, nil
}

// ---------------------------------------------------------------------------
// Variants.

type variant struct {
	name, desc string
	run        func(w *world, n int) (timing, error)
}

var allVariants = []variant{
	{"ruleadd", "(a) netlink.RuleAdd as the library calls it (NLM_F_CREATE|NLM_F_EXCL), one request and ack per rule", runRuleAdd},
	{"excl", "(a') the same request built by hand, NLM_F_CREATE|NLM_F_EXCL (control for noexcl)", runRaw(flagsExcl)},
	{"noexcl", "(b) the same request without NLM_F_EXCL (NLM_F_CREATE only): no rule_exists() walk", runRaw(flagsNoExcl)},
	{"noexcl-batch", "(b') without NLM_F_EXCL, 1000 requests per sendmsg (pipelined), acks read after each batch; first/last = first/last batch", runBatch},
	{"ip-batch", "(d) ip -n NS -batch FILE with 'rule add to X table 123 priority 456' lines; three ip processes: first 1000, middle, last 1000", runIPBatch},
	{"routes", "(c) netlink.RouteAdd 198.18.x.y/32 dev lo table 123 (NLM_F_CREATE|NLM_F_EXCL), no rules", runRoutes},
	{"del-fwd", "(e) netlink.RuleDel of N rules in the order they were added (the oldest first); the adds are untimed", runDel(false)},
	{"del-rev", "(e) netlink.RuleDel of N rules in reverse order (the newest first); the adds are untimed", runDel(true)},
	{"prio-inc-excl", "(f) distinct priorities 1000, 1001, ... increasing, NLM_F_EXCL: each rule goes after all others", runPrio(false, flagsExcl)},
	{"prio-dec-excl", "(f) distinct priorities decreasing, NLM_F_EXCL: each rule goes before all others", runPrio(true, flagsExcl)},
	{"prio-dec-noexcl", "(f) distinct priorities decreasing, without NLM_F_EXCL", runPrio(true, flagsNoExcl)},
	{"above-excl", "(f) N unrelated rules at priority 30000 first (untimed), then the N rules at 456, NLM_F_EXCL", runPrefill(30000, flagsExcl)},
	{"above-noexcl", "(f) as above-excl, without NLM_F_EXCL", runPrefill(30000, flagsNoExcl)},
	{"below-excl", "(f) N unrelated rules at priority 100 first (untimed), then the N rules at 456, NLM_F_EXCL", runPrefill(100, flagsExcl)},
	{"below-noexcl", "(f) as below-excl, without NLM_F_EXCL", runPrefill(100, flagsNoExcl)},
}

func pickVariants(s string) ([]variant, error) {
	if s == "all" {
		return allVariants, nil
	}
	var out []variant
	for _, name := range strings.Split(s, ",") {
		found := false
		for _, v := range allVariants {
			if v.name == strings.TrimSpace(name) {
				out = append(out, v)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown variant %q (see -list)", name)
		}
	}
	return out, nil
}

func runRuleAdd(w *world, n int) (timing, error) {
	rules := make([]*netlink.Rule, n)
	for i := range rules {
		rules[i] = libRule(scattered(i), table, priority)
	}
	return check(w, n+3)(timeEach(n, func(i int) error { return w.h.RuleAdd(rules[i]) }))
}

func runRaw(flags uint16) func(w *world, n int) (timing, error) {
	return func(w *world, n int) (timing, error) {
		reqs := make([]*nl.NetlinkRequest, n)
		for i := range reqs {
			reqs[i] = ruleRequest(scattered(i), table, priority, flags)
		}
		return check(w, n+3)(timeEach(n, func(i int) error { return w.send(reqs[i]) }))
	}
}

func runBatch(w *world, n int) (timing, error) {
	reqs := make([]*nl.NetlinkRequest, n)
	for i := range reqs {
		reqs[i] = ruleRequest(scattered(i), table, priority, flagsNoExcl)
	}
	return check(w, n+3)(timeChunks(n, func(lo, hi int) error { return w.sendBatch(reqs[lo:hi]) }))
}

func runIPBatch(w *world, n int) (timing, error) {
	dir, err := os.MkdirTemp("", "rulecost-batch-")
	if err != nil {
		return timing{}, err
	}
	defer os.RemoveAll(dir)
	// Three files: the first 1000 rules, the middle, the last 1000.
	bounds := []int{0, window, n - window, n}
	if n == window {
		bounds = []int{0, n}
	}
	var files []string
	for k := 0; k+1 < len(bounds); k++ {
		if bounds[k] == bounds[k+1] {
			continue
		}
		f := filepath.Join(dir, fmt.Sprintf("part%d", k))
		var b strings.Builder
		for i := bounds[k]; i < bounds[k+1]; i++ {
			fmt.Fprintf(&b, "rule add to %s/32 table %d priority %d\n", scattered(i), table, priority)
		}
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			return timing{}, err
		}
		files = append(files, f)
	}
	var d []time.Duration
	for _, f := range files {
		t0 := time.Now()
		out, err := exec.Command(ipBin, "-n", w.Name, "-batch", f).CombinedOutput()
		d = append(d, time.Since(t0))
		if err != nil {
			return timing{}, fmt.Errorf("ip -batch %s: %v: %s", f, err, out)
		}
	}
	t := timing{first: d[0], last: d[len(d)-1]}
	for _, x := range d {
		t.total += x
	}
	return check(w, n+3)(t, nil)
}

func runRoutes(w *world, n int) (timing, error) {
	routes := make([]*netlink.Route, n)
	for i := range routes {
		routes[i] = &netlink.Route{
			Dst:       ipNet(scattered(i)),
			LinkIndex: w.lo.Attrs().Index,
			Table:     table,
			Scope:     netlink.SCOPE_LINK,
		}
	}
	t, err := timeEach(n, func(i int) error { return w.h.RouteAdd(routes[i]) })
	if err != nil {
		return t, err
	}
	got, err := w.h.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return t, err
	}
	if len(got) != n {
		return t, fmt.Errorf("table %d has %d routes after adding %d", table, len(got), n)
	}
	return t, nil
}

func runDel(reverse bool) func(w *world, n int) (timing, error) {
	return func(w *world, n int) (timing, error) {
		if err := w.fill(n, scattered, table, priority); err != nil {
			return timing{}, fmt.Errorf("fill: %w", err)
		}
		if c, err := w.countRules(); err != nil || c != n+3 {
			return timing{}, fmt.Errorf("after fill: %d rules, %v", c, err)
		}
		rules := make([]*netlink.Rule, n)
		for i := range rules {
			k := i
			if reverse {
				k = n - 1 - i
			}
			rules[i] = libRule(scattered(k), table, priority)
		}
		return check(w, 3)(timeEach(n, func(i int) error { return w.h.RuleDel(rules[i]) }))
	}
}

func runPrio(decreasing bool, flags uint16) func(w *world, n int) (timing, error) {
	return func(w *world, n int) (timing, error) {
		reqs := make([]*nl.NetlinkRequest, n)
		for i := range reqs {
			p := 1000 + i
			if decreasing {
				p = 1000 + n - 1 - i
			}
			reqs[i] = ruleRequest(scattered(i), table, p, flags)
		}
		return check(w, n+3)(timeEach(n, func(i int) error { return w.send(reqs[i]) }))
	}
}

func runPrefill(otherPref int, flags uint16) func(w *world, n int) (timing, error) {
	return func(w *world, n int) (timing, error) {
		if err := w.fill(n, unrelated, otherTable, otherPref); err != nil {
			return timing{}, fmt.Errorf("prefill: %w", err)
		}
		reqs := make([]*nl.NetlinkRequest, n)
		for i := range reqs {
			reqs[i] = ruleRequest(scattered(i), table, priority, flags)
		}
		return check(w, 2*n+3)(timeEach(n, func(i int) error { return w.send(reqs[i]) }))
	}
}

// check verifies, after a timed run, that the namespace holds the
// expected number of IPv4 rules.
func check(w *world, want int) func(timing, error) (timing, error) {
	return func(t timing, err error) (timing, error) {
		if err != nil {
			return t, err
		}
		got, err := w.countRules()
		if err != nil {
			return t, err
		}
		if got != want {
			return t, fmt.Errorf("%d IPv4 rules in the namespace, want %d", got, want)
		}
		return t, nil
	}
}

// ---------------------------------------------------------------------------
// Duplicate semantics.

// duplicateCheck adds the same rule twice with and without NLM_F_EXCL and
// reports what the kernel keeps, and which flags ip rule add uses.
func duplicateCheck(host netns.NsHandle) (string, error) {
	w, err := newWorld(host)
	if err != nil {
		return "", err
	}
	defer w.close()
	var b strings.Builder
	count := func() int {
		c, err := w.countRules()
		if err != nil {
			return -1
		}
		return c - 3
	}
	errString := func(err error) string {
		if err == nil {
			return "ok"
		}
		return err.Error()
	}
	a := scattered(0)
	fmt.Fprintf(&b, "Duplicate adds of `to %s/32 table %d priority %d` in a fresh namespace:\n\n", a, table, priority)
	e1 := w.h.RuleAdd(libRule(a, table, priority))
	e2 := w.h.RuleAdd(libRule(a, table, priority))
	fmt.Fprintf(&b, "- netlink.RuleAdd (NLM_F_EXCL) twice: %s, then %s; rules: %d\n", errString(e1), errString(e2), count())
	e3 := w.send(ruleRequest(a, table, priority, flagsNoExcl))
	e4 := w.send(ruleRequest(a, table, priority, flagsNoExcl))
	fmt.Fprintf(&b, "- then the same request without NLM_F_EXCL twice: %s, %s; rules: %d (identical duplicates)\n", errString(e3), errString(e4), count())
	e5 := w.h.RuleDel(libRule(a, table, priority))
	fmt.Fprintf(&b, "- one netlink.RuleDel: %s; rules left: %d\n", errString(e5), count())
	for count() > 0 {
		if err := w.h.RuleDel(libRule(a, table, priority)); err != nil {
			return "", err
		}
	}
	b2 := scattered(1)
	o1, _ := exec.Command(ipBin, "-n", w.Name, "rule", "add", "to", b2.String(), "table", strconv.Itoa(table), "priority", strconv.Itoa(priority)).CombinedOutput()
	o2, err2 := exec.Command(ipBin, "-n", w.Name, "rule", "add", "to", b2.String(), "table", strconv.Itoa(table), "priority", strconv.Itoa(priority)).CombinedOutput()
	fmt.Fprintf(&b, "- `ip rule add` of another rule twice: %s, then %s (%s)\n", okOr(o1), okOr(o2), exitOf(err2))
	b.WriteString("\n")
	return b.String(), nil
}

func okOr(out []byte) string {
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Sprintf("%q", s)
	}
	return "ok"
}

func exitOf(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// ---------------------------------------------------------------------------
// Summary.

type result struct {
	variant string
	n, rep  int
	timing
}

func median(xs []time.Duration) time.Duration {
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func summary(results []result, variants []variant, ns []int, reps int, dup string) string {
	type key struct {
		v string
		n int
	}
	tot := map[key][]time.Duration{}
	first := map[key][]time.Duration{}
	last := map[key][]time.Duration{}
	for _, r := range results {
		k := key{r.variant, r.n}
		tot[k] = append(tot[k], r.total)
		first[k] = append(first[k], r.first)
		last[k] = append(last[k], r.last)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# rulecost: the cost of N policy rules\n\n")
	fmt.Fprintf(&b, "Medians of %d repetitions, each in a fresh network namespace. us/op first and last: the mean time of one operation among the first and among the last %d (for the batch variants, the first and the last batch of %d divided by %d). T(N)/T(1000): the total against the same variant's total at N=1000 (linear: N/1000; quadratic: (N/1000)^2).\n\n", reps, window, window, window)
	b.WriteString("| variant | N | total median (min–max) | us/op first 1000 | us/op last 1000 | last ÷ first | T(N)/T(1000) |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|\n")
	for _, v := range variants {
		base := median(tot[key{v.name, ns[0]}])
		for _, n := range ns {
			k := key{v.name, n}
			if len(tot[k]) == 0 {
				continue
			}
			mt := median(tot[k])
			lo, hi := tot[k][0], tot[k][0]
			for _, x := range tot[k] {
				lo, hi = min(lo, x), max(hi, x)
			}
			mf, ml := median(first[k]), median(last[k])
			ratio := "—"
			if ns[0] == 1000 {
				ratio = fmt.Sprintf("%.1f", float64(mt)/float64(base))
			}
			fmt.Fprintf(&b, "| %s | %d | %s (%s–%s) | %.1f | %.1f | %.1f | %s |\n",
				v.name, n, fmtDur(mt), fmtDur(lo), fmtDur(hi), perOp(mf), perOp(ml), float64(ml)/float64(mf), ratio)
		}
	}
	// On a shared machine the minimum of the repetitions is the better
	// estimate of what the kernel alone costs.
	b.WriteString("\nMinimum of the repetitions (the least disturbed run; this machine is shared): total, and us/op of the last 1000 (for del-rev the dear deletes are the first ones: see above).\n\n| variant |")
	for _, n := range ns {
		fmt.Fprintf(&b, " N=%d |", n)
	}
	b.WriteString("\n|---|")
	for range ns {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, v := range variants {
		fmt.Fprintf(&b, "| %s |", v.name)
		for _, n := range ns {
			k := key{v.name, n}
			if len(tot[k]) == 0 {
				b.WriteString(" |")
				continue
			}
			mt, ml := tot[k][0], last[k][0]
			for i := range tot[k] {
				mt, ml = min(mt, tot[k][i]), min(ml, last[k][i])
			}
			fmt.Fprintf(&b, " %s, %.0f |", fmtDur(mt), perOp(ml))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nVariants:\n\n")
	for _, v := range variants {
		fmt.Fprintf(&b, "- `%s`: %s\n", v.name, v.desc)
	}
	b.WriteString("\n")
	b.WriteString(dup)
	return b.String()
}

// readRaw reads the raw.csv that a run wrote.
func readRaw(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if line == 1 {
			continue // header
		}
		c := strings.Split(sc.Text(), ",")
		if len(c) != 7 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 7", path, line, len(c))
		}
		var v [6]int64 // n, rep, total, first, last, window
		for i := range v {
			if v[i], err = strconv.ParseInt(c[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, err)
			}
		}
		if v[5] != window {
			return nil, fmt.Errorf("%s:%d: window %d, this rulecost uses %d", path, line, v[5], window)
		}
		out = append(out, result{variant: c[0], n: int(v[0]), rep: int(v[1]),
			timing: timing{total: time.Duration(v[2]), first: time.Duration(v[3]), last: time.Duration(v[4])}})
	}
	return out, sc.Err()
}

func parseInts(s string) ([]int, error) {
	var out []int
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(s, ",", "\n")))
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		v, err := strconv.Atoi(t)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("no N given")
	}
	return out, nil
}
