package testns

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The one-line forms of links, addresses, routes and rules, in the words of
// `ip`. Numbers without a name are printed as numbers.

var (
	tables     = map[int]string{unix.RT_TABLE_DEFAULT: "default", unix.RT_TABLE_MAIN: "main", unix.RT_TABLE_LOCAL: "local"}
	scopes     = map[int]string{unix.RT_SCOPE_UNIVERSE: "global", unix.RT_SCOPE_SITE: "site", unix.RT_SCOPE_LINK: "link", unix.RT_SCOPE_HOST: "host", unix.RT_SCOPE_NOWHERE: "nowhere"}
	routeTypes = map[int]string{
		unix.RTN_UNICAST: "unicast", unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast", unix.RTN_ANYCAST: "anycast",
		unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole", unix.RTN_UNREACHABLE: "unreachable",
		unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw", unix.RTN_NAT: "nat", unix.RTN_XRESOLVE: "xresolve",
	}
	ruleActions = map[int]string{
		unix.FR_ACT_TO_TBL: "", unix.FR_ACT_GOTO: "", // shown by the lookup and goto attributes
		unix.FR_ACT_NOP: "nop", unix.FR_ACT_BLACKHOLE: "blackhole", unix.FR_ACT_UNREACHABLE: "unreachable", unix.FR_ACT_PROHIBIT: "prohibit",
	}
	// addrFlags names the IFA_F_* bits, lowest first.
	addrFlags = []string{"secondary", "nodad", "optimistic", "dadfailed", "homeaddress", "deprecated",
		"tentative", "permanent", "mngtmpaddr", "noprefixroute", "autojoin", "stable-privacy"}
)

func named(v int, names map[int]string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return strconv.Itoa(v)
}

// bitNames names the set bits of v, names[i] being bit i; unnamed bits are
// printed in hex.
func bitNames(v int, names []string) []string {
	var out []string
	for i, name := range names {
		if v&(1<<i) != 0 {
			out = append(out, name)
			v &^= 1 << i
		}
	}
	if v != 0 {
		out = append(out, fmt.Sprintf("flags %#x", v))
	}
	return out
}

func familyName(f int) string {
	switch f {
	case unix.AF_INET:
		return "4"
	case unix.AF_INET6:
		return "6"
	}
	return "-family" + strconv.Itoa(f)
}

// devName is the name of the link with index i.
func devName(names map[int]string, i int) string {
	if name, ok := names[i]; ok {
		return name
	}
	return "if" + strconv.Itoa(i)
}

// linkLine is "link NAME TYPE mtu N FLAGS", without the running flag, which
// follows the carrier on its own.
func linkLine(l netlink.Link) string {
	a := l.Attrs()
	return fmt.Sprintf("link %s %s mtu %d %s", a.Name, l.Type(), a.MTU, a.Flags&^net.FlagRunning)
}

// addrLine is "addr DEV PREFIX [peer P] [brd B] scope S [FLAGS] [label L]".
func addrLine(a netlink.Addr, names map[int]string) string {
	dev := devName(names, a.LinkIndex)
	f := []string{"addr", dev, a.IPNet.String()}
	if a.Peer != nil {
		f = append(f, "peer", a.Peer.String())
	}
	if a.Broadcast != nil {
		f = append(f, "brd", a.Broadcast.String())
	}
	f = append(f, "scope", named(a.Scope, scopes))
	f = append(f, bitNames(a.Flags, addrFlags)...)
	if a.Label != "" && a.Label != dev {
		f = append(f, "label", a.Label)
	}
	return strings.Join(f, " ")
}

// routeLine is "route4|route6 table T TYPE DST [via GW] [dev DEV] ... metric N ...".
func routeLine(r netlink.Route, names map[int]string) string {
	dst := "default"
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones != 0 {
			dst = r.Dst.String()
		}
	}
	f := []string{"route" + familyName(r.Family), "table", named(r.Table, tables), named(r.Type, routeTypes), dst}
	if r.Gw != nil {
		f = append(f, "via", r.Gw.String())
	}
	if r.Via != nil {
		f = append(f, "via", r.Via.String())
	}
	if r.LinkIndex != 0 {
		f = append(f, "dev", devName(names, r.LinkIndex))
	}
	if r.ILinkIndex != 0 {
		f = append(f, "iif", devName(names, r.ILinkIndex))
	}
	f = append(f, "proto", r.Protocol.String(), "scope", named(int(r.Scope), scopes))
	if r.Src != nil {
		f = append(f, "src", r.Src.String())
	}
	f = append(f, "metric", strconv.Itoa(r.Priority))
	if r.Tos != 0 {
		f = append(f, "tos", fmt.Sprintf("%#x", r.Tos))
	}
	if r.Realm != 0 {
		f = append(f, "realm", strconv.Itoa(r.Realm))
	}
	if r.MTU != 0 {
		f = append(f, "mtu", strconv.Itoa(r.MTU))
	}
	if r.Encap != nil {
		f = append(f, "encap", fmt.Sprint(r.Encap))
	}
	f = append(f, r.ListFlags()...)
	for _, nh := range r.MultiPath {
		f = append(f, "nexthop")
		if nh.Gw != nil {
			f = append(f, "via", nh.Gw.String())
		}
		f = append(f, "dev", devName(names, nh.LinkIndex), "weight", strconv.Itoa(nh.Hops+1))
		f = append(f, nh.ListFlags()...)
	}
	return strings.Join(f, " ")
}

// Rule attributes newer than golang.org/x/sys/unix (Linux 6.2 to 6.16).
const (
	fraDSCP          = 25
	fraFlowlabel     = 26
	fraFlowlabelMask = 27
	fraSportMask     = 28
	fraDportMask     = 29
	fraDSCPMask      = 30
)

// ruleAttrOrder is the order rule attributes are printed in: selectors,
// then the action. Priority, padding and masks are printed elsewhere or
// with their value; attributes not listed follow in hex.
var ruleAttrOrder = []uint16{
	unix.FRA_SRC, unix.FRA_DST, unix.FRA_IIFNAME, unix.FRA_OIFNAME, unix.FRA_FWMARK, unix.FRA_IP_PROTO,
	unix.FRA_SPORT_RANGE, unix.FRA_DPORT_RANGE, unix.FRA_UID_RANGE, unix.FRA_L3MDEV, unix.FRA_TUN_ID,
	fraDSCP, fraFlowlabel, unix.FRA_TABLE, unix.FRA_GOTO, unix.FRA_FLOW, unix.FRA_SUPPRESS_PREFIXLEN,
	unix.FRA_SUPPRESS_IFGROUP, unix.FRA_PROTOCOL,
	unix.FRA_PRIORITY, unix.FRA_PAD, unix.FRA_FWMASK, fraSportMask, fraDportMask, fraDSCPMask, fraFlowlabelMask,
}

// ruleLine formats one rule, the payload of an RTM_NEWRULE message, like
// `ip rule`: "rule4 456: to 203.0.113.2/32 ipproto 17 dport 51822 lookup
// 123 proto 87". It decodes the message itself because netlink.RuleList
// drops the rule's action (blackhole, unreachable...); attributes it does
// not know are printed in hex, so no field goes unseen.
func ruleLine(m []byte) (string, error) {
	if len(m) < unix.SizeofRtMsg {
		return "", fmt.Errorf("short rule message: %d bytes", len(m))
	}
	h := nl.DeserializeRtMsg(m)
	attrs, err := nl.ParseRouteAttrAsMap(m[h.Len():])
	if err != nil {
		return "", fmt.Errorf("parse rule attributes: %w", err)
	}
	var f []string
	if h.Flags&unix.FIB_RULE_INVERT != 0 {
		f = append(f, "not")
	}
	if h.Tos != 0 {
		f = append(f, fmt.Sprintf("tos %#x", h.Tos))
	}
	for _, typ := range ruleAttrOrder {
		if a, ok := attrs[typ]; ok {
			if s := ruleAttr(h, attrs, typ, a.Value); s != "" {
				f = append(f, s)
			}
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(attrs)) {
		if !slices.Contains(ruleAttrOrder, typ) {
			f = append(f, fmt.Sprintf("attr%d %x", typ, attrs[typ].Value))
		}
	}
	if act := named(int(h.Type), ruleActions); act != "" {
		f = append(f, act)
	}
	if flags := h.Flags &^ unix.FIB_RULE_INVERT; flags != 0 {
		f = append(f, fmt.Sprintf("flags %#x", flags))
	}
	var prio uint32
	if a, ok := attrs[unix.FRA_PRIORITY]; ok {
		prio = u32(a.Value)
	}
	return strings.TrimSpace(fmt.Sprintf("rule%s %d: %s", familyName(int(h.Family)), prio, strings.Join(f, " "))), nil
}

// ruleAttr formats rule attribute typ with value v, "" for those printed
// elsewhere or saying nothing.
func ruleAttr(h *nl.RtMsg, attrs map[uint16]syscall.NetlinkRouteAttr, typ uint16, v []byte) string {
	switch typ {
	case unix.FRA_SRC:
		return "from " + prefixString(v, h.Src_len)
	case unix.FRA_DST:
		return "to " + prefixString(v, h.Dst_len)
	case unix.FRA_IIFNAME:
		return "iif " + cString(v)
	case unix.FRA_OIFNAME:
		return "oif " + cString(v)
	case unix.FRA_FWMARK:
		return fmt.Sprintf("fwmark %#x", u32(v)) + mask(attrs, unix.FRA_FWMASK)
	case unix.FRA_IP_PROTO:
		return fmt.Sprintf("ipproto %d", v[0])
	case unix.FRA_SPORT_RANGE:
		return "sport " + portRange(v) + mask(attrs, fraSportMask)
	case unix.FRA_DPORT_RANGE:
		return "dport " + portRange(v) + mask(attrs, fraDportMask)
	case unix.FRA_UID_RANGE:
		return fmt.Sprintf("uidrange %d-%d", u32(v), u32(v[4:]))
	case unix.FRA_L3MDEV:
		return fmt.Sprintf("l3mdev %d", v[0])
	case unix.FRA_TUN_ID:
		return fmt.Sprintf("tun_id %d", binary.BigEndian.Uint64(v))
	case fraDSCP:
		return fmt.Sprintf("dscp %d", v[0]) + mask(attrs, fraDSCPMask)
	case fraFlowlabel:
		return fmt.Sprintf("flowlabel %#x", binary.BigEndian.Uint32(v)) + mask(attrs, fraFlowlabelMask)
	case unix.FRA_TABLE:
		if u32(v) == 0 { // no lookup: blackhole, goto...
			return ""
		}
		return "lookup " + named(int(u32(v)), tables)
	case unix.FRA_GOTO:
		return fmt.Sprintf("goto %d", u32(v))
	case unix.FRA_FLOW:
		return fmt.Sprintf("realms %#x", u32(v))
	case unix.FRA_SUPPRESS_PREFIXLEN, unix.FRA_SUPPRESS_IFGROUP:
		if u32(v) == math.MaxUint32 { // unset
			return ""
		}
		name := map[uint16]string{unix.FRA_SUPPRESS_PREFIXLEN: "suppress_prefixlength", unix.FRA_SUPPRESS_IFGROUP: "suppress_ifgroup"}[typ]
		return fmt.Sprintf("%s %d", name, u32(v))
	case unix.FRA_PROTOCOL:
		if v[0] == unix.RTPROT_UNSPEC {
			return ""
		}
		return "proto " + netlink.RouteProtocol(v[0]).String()
	}
	return ""
}

// mask is "/MASK" for the mask attribute typ (1, 2 or 4 bytes, the
// flowlabel big-endian), or "" if it is absent or all ones.
func mask(attrs map[uint16]syscall.NetlinkRouteAttr, typ uint16) string {
	v := attrs[typ].Value
	var m, full uint64
	switch len(v) {
	case 1:
		m, full = uint64(v[0]), math.MaxUint8
	case 2:
		m, full = uint64(binary.NativeEndian.Uint16(v)), math.MaxUint16
	case 4:
		m, full = uint64(u32(v)), math.MaxUint32
		if typ == fraFlowlabelMask {
			m = uint64(binary.BigEndian.Uint32(v))
		}
	default:
		return ""
	}
	if m == full {
		return ""
	}
	return fmt.Sprintf("/%#x", m)
}

// portRange is "PORT" or "FIRST-LAST".
func portRange(v []byte) string {
	first, last := binary.NativeEndian.Uint16(v), binary.NativeEndian.Uint16(v[2:])
	if first == last {
		return strconv.Itoa(int(first))
	}
	return fmt.Sprintf("%d-%d", first, last)
}

func u32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

func ipString(ip []byte) string {
	a, _ := netip.AddrFromSlice(ip)
	return a.String()
}

func prefixString(ip []byte, bits uint8) string {
	a, _ := netip.AddrFromSlice(ip)
	return netip.PrefixFrom(a, int(bits)).String()
}

// cString is a NUL-terminated string attribute.
func cString(b []byte) string { return strings.TrimRight(string(b), "\x00") }
