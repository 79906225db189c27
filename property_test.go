package transparent_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// The property test's knobs, as flags (go test -run TestProperty .
// -args -property.seed=N) or environment variables.
var (
	propSeed  = flag.Uint64("property.seed", envUint("WGTRANSPARENT_PROPERTY_SEED", 0), "seed of TestProperty's configs; 0 picks one (env WGTRANSPARENT_PROPERTY_SEED)")
	propCount = flag.Int("property.n", int(envUint("WGTRANSPARENT_PROPERTY_N", 200)), "number of configs TestProperty tries (env WGTRANSPARENT_PROPERTY_N)")
	propCase1 = flag.Int("property.case", int(envUint("WGTRANSPARENT_PROPERTY_CASE", 0)), "run only this case number of the seed, counted from 1; 0 runs them all (env WGTRANSPARENT_PROPERTY_CASE)")
	// propShrinkRuns is how many reruns one failure's minimization may
	// take: each is one case, a fraction of a second here, more in the VM.
	propShrinkRuns = flag.Int("property.shrink", int(envUint("WGTRANSPARENT_PROPERTY_SHRINK", 80)), "reruns TestProperty may spend minimizing each failure (env WGTRANSPARENT_PROPERTY_SHRINK)")
)

func envUint(name string, def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

// Bounds of the property test's work.
const (
	// propCaseTimeout bounds the Ups, Check and Down of one case; the
	// VM's emulated CPU is slow, so it is generous.
	propCaseTimeout = 2 * time.Minute
	// propShrinkFailures is how many distinct failures are minimized: the
	// others are reported as found.
	propShrinkFailures = 10
)

// TestProperty runs random configs (property_gen_test.go), valid and
// invalid, in IPv4, IPv6 and dual stack, with every PeerRoute, Exception,
// SNAT and Firewall option and odd values, through New, Up, Check, a
// second Up and Down, each in a fresh namespace with an uplink. Every
// config is either refused (by New with ErrInvalidConfig, or by Up) with
// the namespace unchanged, or brought up with Check clean, a second Up
// writing nothing and Down restoring the namespace exactly. Beyond that,
// New refuses what the docs refuse (propCase.documentedInvalid), and Up applies
// every config Validate accepts unless the namespace is in the way
// (ErrConflict, ErrStrictRPFilter), as Validate promises.
//
// Each broken property is reported once, with how to rerun its first case
// (the seed and case number) and a minimal config that still breaks it.
// WGTRANSPARENT_PROPERTY_N=2000 runs a longer search.
// ciPropertySeed is the seed of TestProperty's configs under CI=true.
const ciPropertySeed = 20261129

func TestProperty(t *testing.T) {
	requireIPTables(t)
	seed := *propSeed
	switch {
	case seed != 0:
	case os.Getenv("CI") == "true":
		// CI tries the same configs every run, so that a red run is the
		// change's and not a newly drawn config's; runs elsewhere draw
		// new ones, and what they find becomes a case of its own.
		seed = ciPropertySeed
	default:
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with WGTRANSPARENT_PROPERTY_SEED=%d)", seed, seed)
	first, last := 0, *propCount
	if *propCase1 > 0 {
		first, last = *propCase1-1, *propCase1
	}
	type found struct {
		f     *propFailure
		c     propCase
		index int
		count int
	}
	var failures []*found
	bySig := map[string]*found{}
	outcomes := map[string]int{}
	start := time.Now()
	for i := first; i < last; i++ {
		c := newPropCase(seed, i)
		f, outcome := runPropCase(t, c)
		outcomes[outcome]++
		if f == nil {
			continue
		}
		if x := bySig[f.signature()]; x != nil {
			x.count++
			continue
		}
		x := &found{f: f, c: c, index: i, count: 1}
		bySig[f.signature()] = x
		failures = append(failures, x)
	}
	t.Logf("%d configs in %s: %v", last-first, time.Since(start).Round(time.Millisecond), outcomes)
	for k, x := range failures {
		report := fmt.Sprintf("property broken: %s\n"+
			"kind: %s\n"+
			"seen in %d of %d configs; first in case %d of seed %d: rerun it with\n"+
			"    WGTRANSPARENT_PROPERTY_SEED=%d WGTRANSPARENT_PROPERTY_CASE=%d go test -count=1 -run 'TestProperty$' .\n",
			x.f.property, x.f.sig, x.count, last-first, x.index+1, seed, seed, x.index+1)
		if k < propShrinkFailures {
			small, sf, runs := shrinkPropCase(t, x.c, x.f)
			report += fmt.Sprintf("minimal config (%d reruns to shrink it):\n%s\nwhat it does:\n%s", runs, indent(small.String()), indent(sf.detail))
		} else {
			report += fmt.Sprintf("config (not minimized: more than %d distinct failures):\n%s\nwhat it does:\n%s", propShrinkFailures, indent(x.c.String()), indent(x.f.detail))
		}
		t.Error(report)
	}
}

// propFailure is a broken property: which one, and what happened.
type propFailure struct {
	property string // such as "a second Up writes nothing"
	sig      string // what happened, without the numbers and addresses of the config
	detail   string
}

// signature tells failures apart: the property and the kind of thing that
// happened. Minimizing keeps it.
func (f *propFailure) signature() string { return f.property + ": " + f.sig }

var (
	propIPv6    = regexp.MustCompile(`[0-9a-f]*:[0-9a-f]*:[0-9a-f:.]*(/[0-9]+)?`)
	propIPv4    = regexp.MustCompile(`[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?`)
	propNumbers = regexp.MustCompile(`[0-9]+`)
	propKey     = regexp.MustCompile(`[A-Za-z0-9+/]{43}=`) // a WireGuard key in base64
)

// normalize leaves out what differs between configs that break a
// property the same way: addresses (A) and numbers (N). A /0 prefix is
// kept, since it behaves unlike others.
func normalize(s string) string {
	keep := func(a string) string {
		if strings.HasSuffix(a, "/0") {
			return "\x00" + a + "\x00" // kept by the numbers' replacement below
		}
		return "A"
	}
	s = propKey.ReplaceAllString(s, "KEY")
	s = propIPv6.ReplaceAllStringFunc(s, keep)
	s = propIPv4.ReplaceAllStringFunc(s, keep)
	parts := strings.Split(s, "\x00") // the odd ones are /0 prefixes
	for i := 0; i < len(parts); i += 2 {
		parts[i] = propNumbers.ReplaceAllString(parts[i], "N")
	}
	return strings.Join(parts, "")
}

// errSig is an error's first step and its innermost cause: the texts
// before the first and after the last ": ", normalized.
func errSig(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	parts := strings.Split(msg, ": ")
	if len(parts) > 2 && strings.HasSuffix(parts[0], "NAME") { // "up NAME: step: ...: cause"
		parts = parts[1:]
	}
	if len(parts) == 1 {
		return normalize(parts[0])
	}
	return normalize(parts[0] + ": ...: " + parts[len(parts)-1])
}

// linesSig is the set of normalized lines, such as a diff's or Check's
// changes, sorted: the kinds of objects involved, not how many.
func linesSig(lines []string) string {
	set := map[string]bool{}
	for _, l := range lines {
		if l != "" {
			set[normalize(l)] = true
		}
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), " | ")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// Acceptable reasons for Up to refuse a config that Validate accepted:
// the namespace is in the way, which Validate cannot know.
var propWorldErrors = []error{transparent.ErrConflict, transparent.ErrStrictRPFilter}

// runPropCase runs one case in a fresh namespace and returns the first
// property it breaks (nil if none) and how far it went.
func runPropCase(t *testing.T, c propCase) (f *propFailure, outcome string) {
	t.Helper()
	ns := testns.NewHost(t, "prop")
	defer ns.Delete()
	name := c.runName()
	cfg := c.cfg
	cfg.Name = name
	defer checkNoStateLeft(t, ns)
	unname := func(s string) string { // the device name is random on every run: NAME in reports
		if c.uniq > 0 { // not a fixed name such as "lo", which is a word in messages too
			s = strings.ReplaceAll(s, name, "NAME")
		}
		return s
	}
	fail := func(property, sig, format string, args ...any) *propFailure { // sig made of unnamed texts
		return &propFailure{property: property, sig: sig, detail: unname(fmt.Sprintf(format, args...))}
	}
	failErr := func(property string, err error, format string, args ...any) *propFailure {
		return fail(property, errSig(unname(err.Error())), format, args...)
	}
	failDiff := func(property, diff, format string, args ...any) *propFailure {
		return fail(property, linesSig(strings.Split(unname(diff), "\n")), format, args...)
	}
	dump := func() (string, error) { return propDump(ns, c.fw) }
	before, err := dump()
	if err != nil {
		t.Fatal(err)
	}
	changed := func() string { // the settled diff against before
		diff, err := settle(before, dump)
		if err != nil {
			t.Fatal(err)
		}
		return diff
	}

	tun, err := transparent.New(cfg, transparent.WithNetNS(ns.Path), transparent.WithBackend(testBackend()), transparent.WithFirewall(c.fw))
	if err != nil {
		switch {
		case !errors.Is(err, transparent.ErrInvalidConfig):
			return failErr("New refuses a config only with ErrInvalidConfig", err, "New: %v", err), "New failed"
		}
		if diff := changed(); diff != "" {
			return failDiff("a config New refuses leaves the namespace unchanged", diff, "New: %v\nnamespace changes:\n%s", err, diff), "refused by New"
		}
		return nil, "refused by New"
	}
	defer func() {
		if err := tun.Close(); err != nil && f == nil {
			f = failErr("Close succeeds", err, "Close: %v", err)
		}
	}()
	if why := c.documentedInvalid(); len(why) > 0 {
		f = fail("New refuses what the documentation refuses", linesSig(why), "New accepted a config where %s", strings.Join(why, "; "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), propCaseTimeout)
	defer cancel()

	if err := tun.Up(ctx); err != nil {
		if diff := changed(); diff != "" {
			return failDiff("a failed Up leaves the namespace unchanged", diff, "Up: %v\nnamespace changes:\n%s", err, diff), "refused by Up"
		}
		if f == nil && !isWorldError(err) {
			f = failErr("Up applies every config Validate accepts (in a namespace that has nothing in its way)", err, "Up: %v", err)
		}
		return f, "refused by Up"
	}
	outcome = "up and down"
	// From here on, Down runs whatever broke, so that the namespace is
	// left as clean as the library can make it.
	downErr := func() error { return tun.Down(ctx) }
	if f != nil {
		downErr()
		return f, outcome
	}
	if err := tun.Check(ctx); err != nil {
		downErr()
		var drift *transparent.DriftError
		if !errors.As(err, &drift) {
			return failErr("Check right after Up is clean", err, "Check: %v", err), outcome
		}
		steps := make([]string, len(drift.Changes))
		for i, ch := range drift.Changes {
			steps[i] = unname(ch.Step)
		}
		return fail("Check right after Up is clean", linesSig(steps), "Check: %v", err), outcome
	}
	afterUp, err := dump()
	if err != nil {
		t.Fatal(err)
	}
	if err := tun.Up(ctx); err != nil {
		downErr()
		return failErr("a second Up succeeds", err, "second Up: %v", err), outcome
	}
	if n := transparent.Writes(tun); n != 0 {
		diff, err := settle(afterUp, dump)
		if err != nil {
			t.Fatal(err)
		}
		downErr()
		return failDiff("a second Up writes nothing", diff, "second Up made %d kernel writes; namespace changes:\n%s", n, diff), outcome
	}
	if err := downErr(); err != nil {
		return failErr("Down succeeds", err, "Down: %v", err), outcome
	}
	if diff := changed(); diff != "" {
		return failDiff("Down restores the namespace exactly", diff, "namespace after Down, against before Up:\n%s", diff), outcome
	}
	return nil, outcome
}

func isWorldError(err error) bool {
	for _, e := range propWorldErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// propDump is the namespace's state as a tunnel with firewall fw can
// change it: links, addresses, routes, rules and the nf_tables ruleset
// (where the nftables and iptables-nft firewalls keep their rules), and
// the nat tables of iptables-legacy, which live elsewhere.
func propDump(ns *testns.NS, fw transparent.Firewall) (string, error) {
	d, err := testns.DumpAll(ns)
	if err != nil || fw != transparent.FirewallIPTablesLegacy {
		return d, err
	}
	for _, save := range []string{"iptables-legacy-save", "ip6tables-legacy-save"} {
		var out []byte
		if err := ns.Do(func() (err error) {
			out, err = exec.Command(save, "-t", "nat").Output()
			return err
		}); err != nil {
			return "", fmt.Errorf("%s -t nat in %s: %w", save, ns.Name, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") { // "# Generated by ... on <date>"
				d += save + " " + line + "\n"
			}
		}
	}
	return d, nil
}

// settle compares dump() with before until they are equal or a second
// has passed (the kernel finishes some changes a moment later; see
// testns.DiffSettled) and returns the last diff.
func settle(before string, dump func() (string, error)) (string, error) {
	deadline := time.Now().Add(time.Second)
	for {
		after, err := dump()
		if err != nil {
			return "", err
		}
		if diff := testns.Diff(before, after); diff == "" || time.Now().After(deadline) {
			return diff, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoStateLeft checks, after a case, that the namespace has no state
// directory: an Up that was refused, and a Down, leave no lock or record
// file behind (lock.go).
func checkNoStateLeft(t *testing.T, ns *testns.NS) {
	dir := ns.StateDir()
	if dir == "" {
		return
	}
	if entries, err := os.ReadDir(dir); err == nil {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s: state files left after the case: %v", ns.Name, names)
	}
}
