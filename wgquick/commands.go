package wgquick

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wgtransparent/transparent/internal/inet"
)

// The hooks of the article's shapes, parsed. Each parse function accepts
// exactly one shape, in any argument order, and reports ok false for
// anything else; String writes the article's form.

// ruleCmd is `ip [-4|-6] rule add|del` with either
// `to ADDR [ipproto udp] [dport PORT]` or `fwmark MARK`, then
// `table T priority N`.
type ruleCmd struct {
	del      bool
	v6       bool
	to       netip.Prefix // invalid for a fwmark rule
	dport    uint16       // 0: none
	mark     uint32       // 0: none
	table    int
	priority int
}

func parseRule(cmd string) (r ruleCmd, ok bool) {
	args, fam, ok := ipCommand(cmd, "rule")
	if !ok || len(args) == 0 {
		return r, false
	}
	if r.del, ok = parseVerb(args[0]); !ok {
		return r, false
	}
	args = args[1:]
	if len(args)%2 != 0 {
		return r, false
	}
	seen := map[string]bool{}
	for i := 0; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		switch k {
		case "lookup":
			k = "table"
		case "pref", "preference":
			k = "priority"
		}
		if seen[k] {
			return r, false
		}
		seen[k] = true
		var err error
		switch k {
		case "to":
			r.to, err = parsePrefix(v)
		case "dport":
			var n uint64
			n, err = parseUint(v, 16)
			r.dport = uint16(n)
		case "ipproto":
			if v != "udp" && v != "17" {
				return r, false
			}
		case "fwmark":
			r.mark, err = parseFwMark(v)
		case "table":
			r.table, err = parseTable(v)
		case "priority":
			var n uint64
			n, err = parseUint(v, 32)
			r.priority = int(n)
		default:
			return r, false
		}
		if err != nil {
			return r, false
		}
	}
	switch {
	case !seen["table"] || !seen["priority"] || r.table == 0 || r.priority == 0:
		return r, false
	case seen["to"] == seen["fwmark"], seen["fwmark"] && r.mark == 0:
		return r, false // exactly one selector
	case seen["dport"] && (!seen["to"] || r.dport == 0), seen["ipproto"] && !seen["dport"]:
		return r, false
	}
	r.v6 = fam == 6
	if r.to.IsValid() {
		if fam != 0 && r.to.Addr().Is6() != (fam == 6) {
			return r, false
		}
		r.v6 = r.to.Addr().Is6()
	}
	return r, true
}

// parseTable reads a table of an ip command: "main" or a number.
func parseTable(v string) (int, error) {
	if v == "main" {
		return inet.TableMain, nil
	}
	n, err := parseUint(v, 32)
	return int(n), err
}

func (r ruleCmd) String() string {
	var b strings.Builder
	b.WriteString(ipPrefix(r.v6) + "rule " + verb(r.del, "add", "del"))
	if r.to.IsValid() {
		b.WriteString(" to " + addrString(r.to))
	}
	if r.mark != 0 {
		fmt.Fprintf(&b, " fwmark %#x", r.mark)
	}
	if r.dport != 0 {
		fmt.Fprintf(&b, " dport %d", r.dport)
	}
	table := strconv.Itoa(r.table)
	if r.table == inet.TableMain {
		table = "main"
	}
	fmt.Fprintf(&b, " table %s priority %d", table, r.priority)
	return b.String()
}

// routeCmd is `ip [-4|-6] route add|del DST dev DEV`.
type routeCmd struct {
	del bool
	v6  bool
	dst netip.Prefix
	dev string // "%i" for the interface itself
}

// parseRoute reads a route command; iface is the interface's name, which
// counts as %i.
func parseRoute(cmd, iface string) (r routeCmd, ok bool) {
	args, fam, ok := ipCommand(cmd, "route")
	if !ok || len(args) != 4 || args[2] != "dev" {
		return r, false
	}
	if r.del, ok = parseVerb(args[0]); !ok {
		return r, false
	}
	dst, err := parsePrefix(args[1])
	if err != nil || fam != 0 && dst.Addr().Is6() != (fam == 6) {
		return r, false
	}
	r.dst, r.v6, r.dev = dst, dst.Addr().Is6(), args[3]
	if r.dev == iface {
		r.dev = "%i"
	}
	return r, true
}

func (r routeCmd) String() string {
	return fmt.Sprintf("%sroute %s %s dev %s", ipPrefix(r.v6), verb(r.del, "add", "del"), addrString(r.dst), r.dev)
}

// ipCommand splits `ip [-4|-6] OBJECT ARGS...` into ARGS and the family
// flag (0, 4 or 6).
func ipCommand(cmd, object string) (args []string, fam int, ok bool) {
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "ip" {
		return nil, 0, false
	}
	f = f[1:]
	switch f[0] {
	case "-4":
		fam, f = 4, f[1:]
	case "-6":
		fam, f = 6, f[1:]
	}
	if len(f) == 0 || f[0] != object {
		return nil, 0, false
	}
	return f[1:], fam, true
}

func ipPrefix(v6 bool) string {
	if v6 {
		return "ip -6 "
	}
	return "ip "
}

// parseVerb reads the verb of an ip rule or ip route command: add, or
// del (delete) which sets del.
func parseVerb(v string) (del, ok bool) {
	switch v {
	case "add":
		return false, true
	case "del", "delete":
		return true, true
	}
	return false, false
}

func verb(del bool, add, remove string) string {
	if del {
		return remove
	}
	return add
}

// natCmd is the article's SNAT rule:
// `iptables|ip6tables -A|-D CHAIN -t nat -s SRC -d DST -j SNAT --to-source ADDR`.
type natCmd struct {
	del   bool
	v6    bool
	chain string
	src   netip.Prefix
	dst   netip.Prefix
	to    netip.Addr
}

func parseNAT(cmd string) (r natCmd, ok bool) {
	f := strings.Fields(cmd)
	if len(f) != 13 {
		return r, false
	}
	switch f[0] {
	case "iptables":
	case "ip6tables":
		r.v6 = true
	default:
		return r, false
	}
	long := map[string]string{"--append": "-A", "--delete": "-D", "--table": "-t", "--source": "-s", "--src": "-s",
		"--destination": "-d", "--dst": "-d", "--jump": "-j", "--to": "--to-source"}
	seen := map[string]bool{}
	for i := 1; i < len(f); i += 2 {
		k, v := f[i], f[i+1]
		if short, ok := long[k]; ok {
			k = short
		}
		if seen[k] {
			return r, false
		}
		seen[k] = true
		var err error
		switch k {
		case "-A", "-D":
			r.del, r.chain = k == "-D", v
		case "-t":
			if v != "nat" {
				return r, false
			}
		case "-j":
			if v != "SNAT" {
				return r, false
			}
		case "-s":
			r.src, err = parsePrefix(v)
		case "-d":
			r.dst, err = parsePrefix(v)
		case "--to-source":
			r.to, err = parseAddr(v)
		default:
			return r, false
		}
		if err != nil {
			return r, false
		}
	}
	if seen["-A"] == seen["-D"] || len(seen) != 6 {
		return r, false
	}
	for _, a := range []netip.Addr{r.src.Addr(), r.dst.Addr(), r.to} {
		if a.Is6() != r.v6 {
			return r, false
		}
	}
	return r, true
}

func (r natCmd) String() string {
	bin := "iptables"
	if r.v6 {
		bin = "ip6tables"
	}
	return fmt.Sprintf("%s %s %s -t nat -s %s -d %s -j SNAT --to-source %s",
		bin, verb(r.del, "-A", "-D"), r.chain, addrString(r.src), addrString(r.dst), r.to)
}
