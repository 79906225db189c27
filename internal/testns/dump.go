package testns

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/nsdo"
	"golang.org/x/sys/unix"
)

// startNS is the network namespace the process started in. It is opened
// during package initialization, on the main thread and before any test
// could have moved a thread elsewhere.
var startNS, startNSErr = netns.Get()

// Dump returns a deterministic, human-readable text of the namespace's
// network state, one item a line in the words of `ip`: its links (name,
// type, flags, MTU), addresses, routes in all tables (IPv4 and IPv6) and
// policy rules (IPv4 and IPv6). Links, addresses and routes are sorted;
// rules keep the kernel's order, the order they are evaluated in. Two dumps
// of the same state are equal; adding or removing a link, address, route or
// rule changes the dump. Counters, indexes, lifetimes and the carrier state
// are left out. Compare two dumps with [Diff].
func Dump(n *NS) (string, error) { return dumpIn(n.Handle, n.String()) }

// DumpHost is [Dump] for the network namespace the test process started in.
// It only reads; as non-root it reads what netlink shows to anyone.
func DumpHost() (string, error) {
	if startNSErr != nil {
		return "", fmt.Errorf("open the host network namespace: %w", startNSErr)
	}
	return dumpIn(startNS, "the host network namespace")
}

func dumpIn(ns netns.NsHandle, name string) (dump string, err error) {
	err = nsdo.Do(ns, func() (err error) {
		for range 5 { // a dump interrupted by a concurrent change is retried
			if dump, err = dumpHere(); !errors.Is(err, netlink.ErrDumpInterrupted) {
				break
			}
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("dump %s: %w", name, err)
	}
	return dump, nil
}

// dumpHere dumps the namespace of the calling thread: the package-level
// netlink functions open their socket on the calling thread.
func dumpHere() (string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return "", fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	var linkLines, addrLines, routeLines, ruleLines []string
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		linkLines = append(linkLines, linkLine(l))
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return "", fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		addrLines = append(addrLines, addrLine(a, names))
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return "", fmt.Errorf("list IPv%s routes: %w", familyName(family), err)
		}
		for _, r := range routes {
			routeLines = append(routeLines, routeLine(r, names))
		}
		rules, err := listRules(family)
		if err != nil {
			return "", fmt.Errorf("list IPv%s rules: %w", familyName(family), err)
		}
		ruleLines = append(ruleLines, rules...)
	}
	var b strings.Builder
	for _, section := range [][]string{sorted(linkLines), sorted(addrLines), sorted(routeLines), ruleLines} {
		for _, line := range section {
			b.WriteString(line + "\n")
		}
	}
	return b.String(), nil
}

// listRules returns the rules of family in the calling thread's namespace,
// formatted by ruleLine, in the kernel's order.
func listRules(family int) ([]string, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETRULE, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(family))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWRULE)
	if err != nil {
		return nil, err
	}
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		if lines[i], err = ruleLine(m); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

// Diff returns the lines removed from before ("- line") and added in after
// ("+ line"), in order, or "" if the two are equal.
func Diff(before, after string) string {
	if before == after {
		return ""
	}
	a, b := lines(before), lines(after)
	// Only the middle between the common head and tail can differ.
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var d strings.Builder
	for i, j := 0, 0; i < len(a) || j < len(b); {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			d.WriteString("- " + a[i] + "\n")
			i++
		default:
			d.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return d.String()
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// DumpSettled is [Dump] once no address of the namespace is tentative
// (IPv6 duplicate address detection takes a second or more on a new
// link), or after 5 seconds: a dump to compare later ones with.
func DumpSettled(n *NS) (string, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := Dump(n)
		if err != nil || !strings.Contains(d, " tentative") || time.Now().After(deadline) {
			return d, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DiffSettled compares the namespace's dump with before until they are
// equal or a second has passed, and returns the last diff ("" when equal).
// The kernel finishes some work a moment after the change that causes it
// (an IPv6 link-local address leaves its tentative state, and gets its
// local route, from a work queue), so a state that was restored can need
// a moment to look it.
func DiffSettled(n *NS, before string) (string, error) { return diffSettled(n, before, Dump) }

func diffSettled(n *NS, before string, dump func(*NS) (string, error)) (string, error) {
	deadline := time.Now().Add(time.Second)
	for {
		after, err := dump(n)
		if err != nil {
			return "", err
		}
		diff := Diff(before, after)
		if diff == "" || time.Now().After(deadline) {
			return diff, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}
