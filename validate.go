package transparent

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/resolve"
	"github.com/wgtransparent/transparent/internal/rulelayout"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// FieldError is one problem found by Validate: the field, what is wrong
// with it, and how to fix it. It matches ErrInvalidConfig with errors.Is.
type FieldError struct {
	Field   string // such as "Peers[0].Transparent[1]"
	Problem string
	Fix     string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("config: %s: %s; %s", e.Field, e.Problem, e.Fix)
}

// Is reports whether target is ErrInvalidConfig.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidConfig }

// validator collects problems so that Validate reports all of them at once.
type validator struct{ errs []error }

func (v *validator) add(field, problem, fix string, args ...any) {
	// args are shared by problem and fix, which refer to them by index.
	v.errs = append(v.errs, &FieldError{
		Field:   field,
		Problem: format(problem, args),
		Fix:     format(fix, args),
	})
}

// format is fmt.Sprintf for texts that use explicit argument indexes
// (%[1]s); a text with no verb is returned as it is.
func format(text string, args []any) string {
	if !strings.Contains(text, "%") {
		return text
	}
	return fmt.Sprintf(text, args...)
}

// Validate checks the config without touching the system and returns every
// problem at once (joined with errors.Join), each a *FieldError naming the
// field and the fix. It returns nil for a config that Up can apply.
func (c Config) Validate() error {
	v := &validator{}
	c = c.WithDefaults()
	c.validateInterface(v)
	c.validatePeers(v)
	c.validateFamilies(v)
	c.validatePeerRoute(v)
	c.validateSNAT(v)
	c.validateNames(v)
	c.validateFailover(v)
	c.validateTableOff(v)
	return errors.Join(v.errs...)
}

// validateTableOff refuses what a plain tunnel (TableOff) cannot do: it has
// no rules, so nothing can be routed transparently or translated.
func (c Config) validateTableOff(v *validator) {
	if c.Table != TableOff {
		return
	}
	const fix = "remove it, or give the tunnel a table (Table = auto, or a number) for its rules"
	for i, p := range c.Peers {
		if len(p.Transparent) > 0 {
			v.add(fmt.Sprintf("Peers[%d].Transparent", i), "set, but Table is off: a plain tunnel has no rules to route it", fix)
		}
		if len(p.TransparentNames) > 0 {
			v.add(fmt.Sprintf("Peers[%d].TransparentNames", i), "set, but Table is off: a plain tunnel has no rules to route them", fix)
		}
	}
	if c.SNAT != SNATOff {
		v.add("SNAT", "set, but Table is off: SNAT translates transparent traffic, which a plain tunnel has none of", fix)
	}
}

func (c Config) validateInterface(v *validator) {
	if problem := checkName(c.Name); problem != "" {
		v.add("Name", "%[1]q %[2]s", nameRule, c.Name, problem)
	}
	if c.PrivateKey == (wgtypes.Key{}) {
		v.add("PrivateKey", "not set", "generate one with wgtypes.GeneratePrivateKey or `wg genkey`")
	}
	if c.ListenPort < 0 || c.ListenPort > 65535 {
		v.add("ListenPort", "%[1]d is out of range", "use 1 to 65535, or 0 to let the kernel pick one", c.ListenPort)
	}
	if c.MTU < 576 || c.MTU > 65535 {
		v.add("MTU", "%[1]d is out of range", "use 576 to 65535 (1280 or more with IPv6), or 0 for %[2]d", c.MTU, DefaultMTU)
	} else if c.MTU < 1280 && c.usesIPv6() {
		v.add("MTU", "%[1]d is too small for IPv6", "use 1280 or more, or 0 for %[2]d", c.MTU, DefaultMTU)
	}
	switch {
	case c.Table == TableAuto || c.Table == TableOff:
	case c.Table < 0 || uint64(c.Table) > math.MaxUint32: // uint64: int may have 32 bits
		v.add("Table", "%[1]d is out of range", "use a table number from 1 to 4294967295 except 253-255, 0 for %[2]d, TableAuto or TableOff", c.Table, DefaultTable)
	case c.Table == inet.TableDefault || c.Table == inet.TableMain || c.Table == inet.TableLocal:
		v.add("Table", "%[1]d is a reserved table (253 default, 254 main, 255 local)", "use an unused table such as %[2]d, or 0 for that default", c.Table, DefaultTable)
	}
	// Compared without adding the offsets, which would overflow for a
	// Priority near math.MaxInt and let it through.
	if c.Priority != PriorityAuto && (c.Priority < 1 || c.Priority > maxPriority-rulelayout.PeerOffset) {
		v.add("Priority", "%[1]d leaves no room for its three rules between the local table's rule (0) and the main table's (32766)", "use 1 to %[2]d, 0 for %[3]d, or PriorityAuto", c.Priority, maxPriority-rulelayout.PeerOffset, DefaultPriority)
	}
	if uint64(c.FwMark) > math.MaxInt {
		// wgctrl carries the mark in an int: on a 32-bit platform a larger
		// one would turn negative on its way to the device.
		v.add("FwMark", "%#[1]x does not fit this platform's int", "use a mark up to %#[2]x", c.FwMark, math.MaxInt)
	}
	if c.PeerRoute > PeerRouteMain {
		v.add("PeerRoute", "%[1]d is not an option", "use PeerRouteRule, PeerRoutePrefix or PeerRouteMain", int(c.PeerRoute))
	}
	if c.Rules > RulesTable {
		v.add("Rules", "%[1]d is not an option", "use RulesPerDestination or RulesTable", int(c.Rules))
	}
	if c.Exception > ExceptionFwMark {
		v.add("Exception", "%[1]d is not an option", "use ExceptionPort or ExceptionFwMark", int(c.Exception))
	}
	if len(c.Addresses) == 0 {
		v.add("Addresses", "empty", "add the interface's tunnel address, such as 10.0.0.1/32")
	}
	seen := map[netip.Addr]int{}
	for i, a := range c.Addresses {
		field := fmt.Sprintf("Addresses[%d]", i)
		if !a.IsValid() || a.Addr().Zone() != "" {
			v.add(field, "%[1]s is not a valid address prefix", "write it as address/length, such as 10.0.0.1/32", a)
			continue
		}
		if a.Addr().Is4In6() {
			v.add(field, "%[1]s is an IPv4-mapped IPv6 address", "write the IPv4 address as such", a)
		}
		if a.Bits() == 0 {
			v.add(field, "%[1]s has prefix length 0, which puts every destination on the tunnel's link", "use a single address (/32, /128) or the tunnel's own subnet", a)
		}
		if a.Addr().IsLinkLocalUnicast() {
			v.add(field, "%[1]s is link-local: the kernel gives a link those, and the tunnel leaves them alone", "use a private (10.0.0.1/32, fd00::1/128) or public address", a)
		}
		if j, dup := seen[a.Addr()]; dup {
			v.add(field, "%[1]s repeats Addresses[%[2]d]", "list each address once", a.Addr(), j)
		}
		seen[a.Addr()] = i
	}
}

func (c Config) validatePeers(v *validator) {
	if len(c.Peers) == 0 {
		v.add("Peers", "empty", "add the remote endpoint as a Peer")
	}
	own := c.PrivateKey.PublicKey()
	keys := map[wgtypes.Key]int{}
	endpoints := map[netip.AddrPort]int{}
	// owner remembers which field first listed each prefix, across peers,
	// because WireGuard routes one prefix to one peer only.
	owner := map[netip.Prefix]string{}
	for i, p := range c.Peers {
		pf := fmt.Sprintf("Peers[%d]", i)
		switch j, dup := keys[p.PublicKey]; {
		case p.PublicKey == (wgtypes.Key{}):
			v.add(pf+".PublicKey", "not set", "set the peer's public key (`wg pubkey` of its private key)")
		case dup:
			v.add(pf+".PublicKey", "same as Peers[%[1]d].PublicKey", "give each peer its own key, or merge the two peers", j)
		case c.PrivateKey != (wgtypes.Key{}) && p.PublicKey == c.PrivateKey:
			v.add(pf+".PublicKey", "is this endpoint's private key", "set the remote endpoint's public key; the private key was exposed wherever this config was shared: make a new one (wg genkey)")
		case c.PrivateKey != (wgtypes.Key{}) && p.PublicKey == own:
			v.add(pf+".PublicKey", "is this endpoint's own public key", "set the remote endpoint's public key")
		}
		keys[p.PublicKey] = i
		checkEndpoint(v, pf+".Endpoint", p.Endpoint)
		checkEndpoint(v, pf+".ExpectedEndpoint", p.ExpectedEndpoint)
		switch {
		case p.Endpoint.IsValid() && p.ExpectedEndpoint.IsValid():
			v.add(pf+".ExpectedEndpoint", "set together with Endpoint", "remove it: the exception rule uses Endpoint")
		case (len(p.Transparent) > 0 || len(p.TransparentNames) > 0 || slices.ContainsFunc(p.AllowedIPs, isDefault)) && !p.exceptionEndpoint().IsValid() && c.Exception == ExceptionPort:
			v.add(pf+".Endpoint", "not set, but %[1]s is", "set Endpoint, or ExpectedEndpoint when the device should learn it (the peer's public address and WireGuard port, such as 198.51.100.1:51821): the exception rule that keeps its WireGuard packets out of the tunnel matches them; or use ExceptionFwMark, which needs no port", p.transparentField())
		}
		switch {
		case p.PersistentKeepalive < 0 || p.PersistentKeepalive > 65535*time.Second:
			v.add(pf+".PersistentKeepalive", "%[1]s is out of range", "use 0 (off) to 65535s, usually 25s", p.PersistentKeepalive)
		case p.PersistentKeepalive%time.Second != 0:
			v.add(pf+".PersistentKeepalive", "%[1]s is not a whole number of seconds", "WireGuard counts it in seconds: use %[2]s", p.PersistentKeepalive, p.PersistentKeepalive.Round(time.Second))
		}
		if ep := p.exceptionEndpoint(); ep.IsValid() {
			if j, dup := endpoints[ep]; dup {
				v.add(pf+".Endpoint", "%[1]s is also Peers[%[2]d]'s endpoint", "give each peer its own endpoint: WireGuard and the exception rule tell peers apart by it", ep, j)
			}
			endpoints[ep] = i
			if ep.Port() > maxRulePort && c.Exception == ExceptionPort {
				field := pf + ".Endpoint"
				if !p.Endpoint.IsValid() {
					field = pf + ".ExpectedEndpoint"
				}
				v.add(field, "port %[1]d cannot be matched by a policy rule (the kernel takes dport up to %[2]d)", "use ExceptionFwMark, which needs no port, or another WireGuard port", ep.Port(), maxRulePort)
			}
		}
		checkPrefixes(v, owner, pf+".AllowedIPs", p.AllowedIPs)
		checkPrefixes(v, owner, pf+".Transparent", p.Transparent)
	}
	c.validateOverlaps(v)
}

// maxRulePort is the highest port a policy rule's dport can match: the
// kernel refuses a range ending at 65535 (fib_rule_port_range_valid).
const maxRulePort = 65534

// checkEndpoint checks an optional endpoint: when set, a unicast address
// with a port.
func checkEndpoint(v *validator, field string, ep netip.AddrPort) {
	if !ep.IsValid() && ep.Port() == 0 {
		return
	}
	ip := ep.Addr()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.Is4In6() || ip.Zone() != "" {
		v.add(field, "%[1]s is not a unicast address", "use the peer's public address and port, such as 203.0.113.2:51822", ep)
	}
	if ep.Port() == 0 {
		v.add(field, "%[1]s has no port", "add the peer's WireGuard listen port, such as 203.0.113.2:51822", ep)
	}
}

// checkPrefixes checks one list of AllowedIPs or Transparent prefixes and
// records each in owner.
func checkPrefixes(v *validator, owner map[netip.Prefix]string, field string, list []netip.Prefix) {
	for j, p := range list {
		f := fmt.Sprintf("%s[%d]", field, j)
		switch {
		case !p.IsValid() || p.Addr().Zone() != "":
			v.add(f, "%[1]s is not a valid prefix", "write it as address/length, such as 203.0.113.2/32", p)
			continue
		case p.Addr().Is4In6():
			v.add(f, "%[1]s is an IPv4-mapped IPv6 prefix", "write the IPv4 prefix as such", p)
		case p != p.Masked():
			v.add(f, "%[1]s has host bits set", "write %[2]s, or %[3]s for the single address", p, p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
		}
		if prev, dup := owner[p.Masked()]; dup {
			v.add(f, "%[1]s is already listed in %[2]s", "list each prefix once: WireGuard sends a prefix to one peer only", p, prev)
			continue
		}
		owner[p.Masked()] = f
	}
}

// validateOverlaps checks that no Transparent prefix overlaps a tunnel
// AllowedIPs prefix (their routes would collide in Table), and that no
// endpoint is reached through the tunnel by a route that the exception
// rule cannot bypass.
func (c Config) validateOverlaps(v *validator) {
	for i, p := range c.Peers {
		for j, tp := range p.Transparent {
			for k, q := range c.Peers {
				for l, ap := range q.AllowedIPs {
					if tp.IsValid() && ap.IsValid() && tp.Overlaps(ap) {
						v.add(fmt.Sprintf("Peers[%d].Transparent[%d]", i, j),
							"%[1]s overlaps Peers[%[2]d].AllowedIPs[%[3]d] %[4]s", "keep public addresses in Transparent and tunnel addresses in AllowedIPs, with no address in both",
							tp, k, l, ap)
					}
				}
			}
		}
	}
	for i, p := range c.Peers {
		ep := p.exceptionEndpoint().Addr()
		if !ep.IsValid() {
			continue
		}
		for j, a := range c.Addresses {
			if a.IsValid() && a.Masked().Contains(ep) {
				v.add(fmt.Sprintf("Addresses[%d]", j), "%[1]s covers Peers[%[2]d].Endpoint %[3]s, so the main table would route the peer's WireGuard packets into the tunnel", "narrow the prefix so that it excludes the endpoint", a, i, ep)
			}
		}
		if c.PeerRoute != PeerRouteMain {
			continue
		}
		for k, q := range c.Peers {
			for l, ap := range q.AllowedIPs {
				if ap.IsValid() && ap.Contains(ep) {
					v.add(fmt.Sprintf("Peers[%d].AllowedIPs[%d]", k, l), "%[1]s contains Peers[%[2]d].Endpoint %[3]s, and with PeerRouteMain its route in main would send the peer's WireGuard packets into the tunnel", "move the public address to Transparent, or use PeerRouteRule", ap, i, ep)
				}
			}
		}
	}
}

// validateFamilies checks that every IP family routed into the tunnel has
// an interface address of that family, so that packets get a source address.
func (c Config) validateFamilies(v *validator) {
	has := map[bool]bool{} // key: is IPv4
	for _, a := range c.Addresses {
		if a.IsValid() {
			has[a.Addr().Is4()] = true
		}
	}
	for i, p := range c.Peers {
		for field, list := range map[string][]netip.Prefix{"AllowedIPs": p.AllowedIPs, "Transparent": p.Transparent} {
			for j, pr := range list {
				if pr.IsValid() && len(c.Addresses) > 0 && !has[pr.Addr().Is4()] {
					v.add(fmt.Sprintf("Peers[%d].%s[%d]", i, field, j), "%[1]s is %[2]s but Addresses has no %[2]s address", "add an %[2]s tunnel address to Addresses, or remove this prefix", pr, inet.FamilyName(pr.Addr().Is6()))
				}
			}
		}
	}
}

// validatePeerRoute checks the PeerRoutePrefix option: the connected route
// of some address must cover each peer's tunnel addresses.
func (c Config) validatePeerRoute(v *validator) {
	if c.PeerRoute == PeerRouteMain {
		for i, p := range c.Peers {
			for j, ap := range p.AllowedIPs {
				if isDefault(ap) {
					v.add(fmt.Sprintf("Peers[%d].AllowedIPs[%d]", i, j), "%[1]s with PeerRouteMain would be a second default route in main", "use PeerRouteRule, which sends every destination into the tunnel behind `lookup main suppress_prefixlength 0`, as wg-quick does", ap)
				}
			}
		}
	}
	if c.PeerRoute != PeerRoutePrefix {
		return
	}
	for i, p := range c.Peers {
		for j, ap := range p.AllowedIPs {
			if !ap.IsValid() || coveredByAddress(c.Addresses, ap) {
				continue
			}
			fix := "add an address of the same family to Addresses"
			for k, a := range c.Addresses {
				if a.IsValid() && a.Addr().BitLen() == ap.Addr().BitLen() {
					fix = fmt.Sprintf("widen Addresses[%d] to %s, the smallest prefix that covers it, or use PeerRouteRule", k, smallestCover(a.Addr(), ap))
					break
				}
			}
			v.add(fmt.Sprintf("Peers[%d].AllowedIPs[%d]", i, j), "%[1]s is not covered by any of Addresses, so PeerRoutePrefix gives it no route", strings.ReplaceAll(fix, "%", "%%"), ap)
		}
	}
}

// isDefault reports whether p is a prefix of length 0: every destination.
func isDefault(p netip.Prefix) bool { return p.IsValid() && p.Bits() == 0 }

func coveredByAddress(addrs []netip.Prefix, p netip.Prefix) bool {
	for _, a := range addrs {
		if a.IsValid() && a.Bits() <= p.Bits() && a.Masked().Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// smallestCover returns the longest prefix of a that contains all of p.
func smallestCover(a netip.Addr, p netip.Prefix) netip.Prefix {
	for bits := min(p.Bits(), a.BitLen()); bits >= 0; bits-- {
		cover := netip.PrefixFrom(a, bits)
		if cover.Masked().Contains(p.Addr()) {
			return cover
		}
	}
	return netip.PrefixFrom(a, 0)
}

func (c Config) usesIPv6() bool {
	for _, a := range c.Addresses {
		if a.Addr().Is6() {
			return true
		}
	}
	return false
}

// validateSNAT checks what the SNAT rules need: prefixes to translate, at
// most one public address per family, and for SNATInbound the peer's
// public address.
func (c Config) validateSNAT(v *validator) {
	if c.SNAT > SNATInbound {
		v.add("SNAT", "%[1]d is not an option", "use SNATOff, SNATOutbound or SNATInbound", int(c.SNAT))
		return
	}
	if c.SNAT == SNATOff {
		if len(c.PublicAddresses) > 0 {
			v.add("PublicAddresses", "set, but SNAT is off", "remove them, or set SNAT")
		}
		return
	}
	seen := map[bool]int{} // key: is IPv4
	for i, a := range c.PublicAddresses {
		f := fmt.Sprintf("PublicAddresses[%d]", i)
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.Is4In6() || a.Zone() != "" {
			v.add(f, "%[1]s is not a unicast address", "use this endpoint's public address, such as 198.51.100.1", a)
			continue
		}
		if j, dup := seen[a.Is4()]; dup {
			v.add(f, "second %[1]s address, after PublicAddresses[%[2]d]", "list at most one public address per IP family", inet.FamilyName(a.Is6()), j)
		}
		seen[a.Is4()] = i
	}
	transparent := false
	for i, p := range c.Peers {
		transparent = transparent || len(p.Transparent) > 0 || len(p.TransparentNames) > 0
		if c.SNAT != SNATInbound || len(p.Transparent) == 0 {
			continue
		}
		// The peer's public address, the SNAT target, is its single
		// address Transparent prefix of each family it uses.
		hosts, tunnel := map[bool]int{}, map[bool]bool{}
		for _, tp := range p.Transparent {
			if tp.IsValid() && tp.IsSingleIP() {
				hosts[tp.Addr().Is4()]++
			}
		}
		for _, ap := range p.AllowedIPs {
			tunnel[ap.Addr().Is4()] = true
		}
		for _, tp := range p.Transparent {
			is4 := tp.Addr().Is4()
			if !tp.IsValid() || hosts[is4] == 1 && tunnel[is4] {
				continue
			}
			fam := inet.FamilyName(tp.Addr().Is6())
			if !tunnel[is4] {
				v.add(fmt.Sprintf("Peers[%d].AllowedIPs", i), "has no %[1]s tunnel address, which SNATInbound translates", "add the peer's %[1]s tunnel address", fam)
			} else {
				v.add(fmt.Sprintf("Peers[%d].Transparent", i), "needs exactly one single-address %[1]s prefix for SNATInbound, the peer's public address, and has %[2]d", "list the peer's public %[1]s address as a /32 or /128, and only it", fam, hosts[is4])
			}
			break
		}
	}
	if !transparent {
		v.add("SNAT", "set, but no peer has Transparent prefixes", "add the peer's public address to its Transparent, or turn SNAT off")
	}
}

// A tunnel's Name becomes the link's name, the UAPI socket
// /var/run/wireguard/<Name>.sock, the nf_tables tables
// wgtransparent-<Name>, the iptables chain WGT-<Name> and its rules'
// comment "wgtransparent <Name>", and a word of the commands Plan prints
// (ip, wg, nft, iptables). Linux alone refuses few names (empty, longer
// than 15 bytes, "." and "..", '/', ':', white space, and "all" and
// "default", which its per-interface sysctl directories reserve), but
// the tools are stricter: nft cannot name a table with '=', '+', '@', '#'
// or quotes at all (quoted names are not identifiers to it), '#' starts a
// comment there, and a name starting with '-' reads as an option to ip and
// wg. So a Name is what every one of them takes as it is: wg-quick's
// characters less '=' and '+'.
const (
	// maxNameLen is IFNAMSIZ (16) less the terminating NUL.
	maxNameLen = 15
	// nameChars are the characters allowed in a Name besides ASCII
	// letters and digits.
	nameChars = "_.-"
	// nameRule is the rule, as the fix of a bad Name states it.
	nameRule = "use 1 to 15 letters (ASCII), digits, '_', '.' or '-', starting with a letter, digit or '_', such as \"wg0\""
)

// checkName returns what is wrong with a tunnel Name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	case name == "all" || name == "default":
		return "is reserved by Linux (/proc/sys/net/ipv4/conf/" + name + " configures every interface)"
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; !nameByte(b) {
			return "contains " + describeByte(b)
		}
	}
	if b := name[0]; b == '.' || b == '-' {
		return fmt.Sprintf("starts with %q", rune(b))
	}
	return ""
}

func nameByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte(nameChars, b) >= 0
}

// describeByte names a byte for a message: quoted when printable ASCII,
// else in hex, so that a NUL or a control character shows.
func describeByte(b byte) string {
	switch {
	case b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f':
		return fmt.Sprintf("white space %q", rune(b))
	case b > ' ' && b < 0x7f:
		return fmt.Sprintf("%q", rune(b))
	}
	return fmt.Sprintf("the byte %#02x", b)
}

// validateNames checks TransparentNames: each a host name (resolve.ValidName),
// each listed once in the whole config, and not with SNATInbound.
func (c Config) validateNames(v *validator) {
	seen := map[string]string{} // canonical name: the field that listed it first
	for i, p := range c.Peers {
		for j, name := range p.TransparentNames {
			f := fmt.Sprintf("Peers[%d].TransparentNames[%d]", i, j)
			if err := resolve.ValidName(name); err != nil {
				problem := strings.TrimPrefix(err.Error(), resolve.ErrInvalidName.Error()+": ")
				v.add(f, "%[1]s", "write a fully qualified host name such as app.example.com (letters, digits, hyphens and dots), or move an address or prefix to Transparent", problem)
				continue
			}
			key := resolve.Canonical(name)
			if prev, dup := seen[key]; dup {
				v.add(f, "%[1]q is already listed in %[2]s", "list each name once: its addresses are routed to one peer only", name, prev)
				continue
			}
			seen[key] = f
		}
		if len(p.TransparentNames) > 0 && c.SNAT == SNATInbound {
			v.add(fmt.Sprintf("Peers[%d].TransparentNames", i), "set with SNATInbound, which translates to the peer's one public address, and a name's answer may change", "list the peer's public address in Transparent, or use SNATOutbound on the peer's side")
		}
	}
}

// transparentField names the field that makes p transparent, for
// Validate's messages.
func (p Peer) transparentField() string {
	switch {
	case len(p.Transparent) == 0 && len(p.TransparentNames) > 0:
		return "TransparentNames"
	case len(p.Transparent) == 0 && len(p.TransparentNames) == 0:
		return "an AllowedIPs prefix of length 0"
	}
	return "Transparent"
}

// validateFailover checks the peers' Fallback and the HealthCheck.
func (c Config) validateFailover(v *validator) {
	fallbacks := false
	for i, p := range c.Peers {
		field := fmt.Sprintf("Peers[%d].Fallback", i)
		switch {
		case p.Fallback == FallbackNone:
			continue
		case p.Fallback < FallbackNone || p.Fallback > FallbackBlock:
			v.add(field, "%[1]d is not an option", "use FallbackNone, FallbackInternet or FallbackBlock", int(p.Fallback))
			continue
		}
		fallbacks = true
		if len(p.Transparent) == 0 && len(p.TransparentNames) == 0 {
			v.add(field, "%[1]s on a peer with nothing Transparent has nothing to fail over", "add the peer's public addresses to Transparent or TransparentNames, or remove the Fallback", p.Fallback)
		}
		if !hasProbeAddr(p) {
			v.add(field, "%[1]s needs a tunnel address of the peer to probe, and AllowedIPs has no single address (/32 or /128) outside Transparent", "add the peer's tunnel address to AllowedIPs, such as 10.0.0.2/32, or remove the Fallback", p.Fallback)
		}
	}
	h := c.Health
	if h == (HealthCheck{}) {
		return
	}
	if !fallbacks {
		v.add("Health", "set, but no peer has a Fallback", "set a peer's Fallback, or leave Health at its zero value")
	}
	if h.Interval != 0 && (h.Interval < MinHealthInterval || h.Interval > MaxHealthInterval) {
		v.add("Health.Interval", "%[1]s is out of range", "use %[2]s to %[3]s, or 0 for %[4]s", h.Interval, MinHealthInterval, MaxHealthInterval, DefaultHealthInterval)
	}
	if h.FailAfter < 0 || h.FailAfter > MaxHealthCount {
		v.add("Health.FailAfter", "%[1]d is out of range", "use 1 to %[2]d intervals, or 0 for %[3]d", h.FailAfter, MaxHealthCount, DefaultHealthFailAfter)
	}
	if h.RecoverAfter < 0 || h.RecoverAfter > MaxHealthCount {
		v.add("Health.RecoverAfter", "%[1]d is out of range", "use 1 to %[2]d intervals, or 0 for %[3]d", h.RecoverAfter, MaxHealthCount, DefaultHealthRecoverAfter)
	}
}

// hasProbeAddr reports whether p has an address Watch can probe: a single
// address of its AllowedIPs outside its Transparent prefixes.
func hasProbeAddr(p Peer) bool {
	for _, a := range p.AllowedIPs {
		if a.IsSingleIP() && !prefixesContain(p.Transparent, a.Addr()) {
			return true
		}
	}
	return false
}

func prefixesContain(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
