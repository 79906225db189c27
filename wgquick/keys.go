package wgquick

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent"
)

// keySpec is one key of a section: its canonical spelling, whether it may
// be given more than once, and what it sets.
type keySpec struct {
	name   string
	repeat bool
	set    func(p *parser, line int, key, value string)
}

// interfaceKeys and peerKeys are the keys of each section, by lower-case
// name: wg-quick's, then this library's.
var (
	interfaceKeys = specs(
		keySpec{"PrivateKey", false, (*parser).setPrivateKey},
		keySpec{"PrivateKeyFile", false, (*parser).setPrivateKeyFile},
		keySpec{"Address", true, (*parser).setAddress},
		keySpec{"ListenPort", false, (*parser).setListenPort},
		keySpec{"MTU", false, (*parser).setMTU},
		keySpec{"Table", false, (*parser).setTable},
		keySpec{"FwMark", false, (*parser).setFwMark},
		keySpec{"DNS", true, (*parser).setDNS},
		keySpec{"SaveConfig", false, (*parser).setSaveConfig},
		keySpec{"PreUp", true, (*parser).addHook},
		keySpec{"PostUp", true, (*parser).addHook},
		keySpec{"PreDown", true, (*parser).addHook},
		keySpec{"PostDown", true, (*parser).addHook},
		keySpec{"Priority", false, (*parser).setPriority},
		keySpec{"PeerRoute", false, (*parser).setPeerRoute},
		keySpec{"Exception", false, (*parser).setException},
		keySpec{"Rules", false, (*parser).setRules},
		keySpec{"SNAT", false, (*parser).setSNAT},
		keySpec{"PublicAddress", true, (*parser).setPublicAddress},
		keySpec{"HealthInterval", false, (*parser).setHealthInterval},
		keySpec{"HealthFailAfter", false, (*parser).setHealthFailAfter},
		keySpec{"HealthRecoverAfter", false, (*parser).setHealthRecoverAfter},
	)
	peerKeys = specs(
		keySpec{"PublicKey", false, (*parser).setPublicKey},
		keySpec{"PresharedKey", false, (*parser).setPresharedKey},
		keySpec{"Endpoint", false, (*parser).setEndpoint},
		keySpec{"AllowedIPs", true, (*parser).setAllowedIPs},
		keySpec{"PersistentKeepalive", false, (*parser).setKeepalive},
		keySpec{"Transparent", true, (*parser).setTransparent},
		keySpec{"ExpectedEndpoint", false, (*parser).setExpectedEndpoint},
		keySpec{"Fallback", false, (*parser).setFallback},
	)
)

func specs(list ...keySpec) map[string]keySpec {
	m := make(map[string]keySpec, len(list))
	for _, s := range list {
		m[strings.ToLower(s.name)] = s
	}
	return m
}

// choice reads one of the names of an enumeration, case-insensitively.
func choice[T any](p *parser, line int, key, value string, options map[string]T) (T, bool) {
	v, ok := options[strings.ToLower(value)]
	if !ok {
		names := make([]string, 0, len(options))
		for n := range options {
			names = append(names, n)
		}
		p.fail(line, key, fmt.Sprintf("%q is not an option", value), "use "+orList(names), nil)
	}
	return v, ok
}

// orList writes names sorted as "a, b or c".
func orList(names []string) string {
	slices.Sort(names)
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// [Interface]

func (p *parser) setPrivateKey(line int, key, value string) {
	if src, ok := p.at["PrivateKey"]; ok {
		p.fail(line, key, fmt.Sprintf("gives the private key again (%s line %d gives it)", src.key, src.line),
			"keep one of PrivateKey, PrivateKeyFile and `PostUp = wg set %i private-key FILE`", nil)
		return
	}
	k, err := parseKey(value)
	if err != nil {
		p.fail(line, key, err.Error(), "use the output of `wg genkey`", nil)
		return
	}
	p.cfg.PrivateKey = k
	p.at["PrivateKey"] = source{line, key}
}

func (p *parser) setPrivateKeyFile(line int, key, value string) {
	p.keyFile(line, key, value)
}

func (p *parser) setAddress(line int, key, value string) {
	for _, a := range p.prefixes(line, key, value) {
		p.cfg.Addresses = append(p.cfg.Addresses, a)
		p.addrs = append(p.addrs, source{line, key})
	}
}

func (p *parser) setListenPort(line int, key, value string) {
	n, err := parseUint(value, 16)
	if err != nil {
		p.fail(line, key, err.Error(), "use the UDP port WireGuard listens on, such as 51820", nil)
		return
	}
	p.cfg.ListenPort = int(n)
	p.at["ListenPort"] = source{line, key}
}

func (p *parser) setMTU(line int, key, value string) {
	n, err := parseUint(value, 16)
	if err != nil {
		p.fail(line, key, err.Error(), "use an MTU such as 1420, or remove the line for the default", nil)
		return
	}
	p.cfg.MTU = int(n)
	p.at["MTU"] = source{line, key}
}

func (p *parser) setTable(line int, key, value string) {
	switch strings.ToLower(value) {
	case "auto":
		p.cfg.Table = transparent.TableAuto
	case "off":
		p.cfg.Table = transparent.TableOff
	default:
		n, err := parseUint(value, 32)
		if err != nil || n == 0 {
			p.fail(line, key, fmt.Sprintf("%q is not a routing table number", value),
				fmt.Sprintf("use auto (the default), off, or an unused table number such as %d", transparent.DefaultTable), nil)
			return
		}
		p.cfg.Table = int(n)
	}
	p.at["Table"] = source{line, key}
}

func (p *parser) setFwMark(line int, key, value string) {
	m, err := parseFwMark(value)
	if err != nil {
		p.fail(line, key, err.Error(), "write it as 51820 or 0xca6c, or off", nil)
		return
	}
	p.cfg.FwMark = m
	p.at["FwMark"] = source{line, key}
}

func (p *parser) setDNS(line int, key, value string) {
	items, err := splitList(value)
	if err != nil {
		p.fail(line, key, err.Error(), "separate the servers and search domains with single commas", nil)
		return
	}
	p.f.DNS = append(p.f.DNS, items...)
	p.note(line, "%s line %d: %s: not part of the tunnel's settings; wg-transparent up sets it with resolvconf, or systemd-resolved, as wg-quick does", key, line, value)
}

func (p *parser) setSaveConfig(line int, key, value string) {
	v, ok := choice(p, line, key, value, map[string]bool{"true": true, "false": false})
	if !ok {
		return
	}
	p.f.SaveConfig = v
	if v {
		p.note(line, "%s line %d: %s: not part of the tunnel's settings; wg-transparent down saves the running device into the file first, as wg-quick does", key, line, value)
	}
}

func (p *parser) addHook(line int, key, value string) {
	p.hooks = append(p.hooks, &hook{kind: key, line: line, cmd: value})
}

func (p *parser) setPriority(line int, key, value string) {
	if strings.EqualFold(value, "auto") {
		p.cfg.Priority = transparent.PriorityAuto
		p.at["Priority"] = source{line, key}
		return
	}
	n, err := parseUint(value, 32)
	if err != nil || n == 0 {
		p.fail(line, key, fmt.Sprintf("%q is not a rule priority", value), fmt.Sprintf("use 1 to 32763, such as %d, or auto (the default)", transparent.DefaultPriority), nil)
		return
	}
	p.cfg.Priority = int(n)
	p.at["Priority"] = source{line, key}
}

func (p *parser) setPeerRoute(line int, key, value string) {
	v, ok := choice(p, line, key, value, map[string]transparent.PeerRoute{
		"rule": transparent.PeerRouteRule, "prefix": transparent.PeerRoutePrefix, "main": transparent.PeerRouteMain})
	if ok {
		p.cfg.PeerRoute = v
		p.at["PeerRoute"] = source{line, key}
	}
}

func (p *parser) setException(line int, key, value string) {
	v, ok := choice(p, line, key, value, map[string]transparent.ExceptionMode{
		"port": transparent.ExceptionPort, "fwmark": transparent.ExceptionFwMark})
	if ok {
		p.cfg.Exception = v
		p.at["Exception"] = source{line, key}
	}
}

func (p *parser) setRules(line int, key, value string) {
	v, ok := choice(p, line, key, value, map[string]transparent.RuleMode{
		"destination": transparent.RulesPerDestination, "table": transparent.RulesTable})
	if ok {
		p.cfg.Rules = v
		p.at["Rules"] = source{line, key}
	}
}

func (p *parser) setSNAT(line int, key, value string) {
	v, ok := choice(p, line, key, value, map[string]transparent.SNATMode{
		"off": transparent.SNATOff, "outbound": transparent.SNATOutbound, "inbound": transparent.SNATInbound})
	if ok {
		p.cfg.SNAT = v
		p.at["SNAT"] = source{line, key}
	}
}

func (p *parser) setPublicAddress(line int, key, value string) {
	items, err := splitList(value)
	if err != nil {
		p.fail(line, key, err.Error(), "separate the addresses with single commas", nil)
		return
	}
	for _, it := range items {
		a, err := parseAddr(it)
		if err != nil {
			p.fail(line, key, err.Error(), "write this endpoint's public address, such as 198.51.100.1", err)
			continue
		}
		p.cfg.PublicAddresses = append(p.cfg.PublicAddresses, a)
		p.public = append(p.public, source{line, key})
	}
}

// [Peer]

func (p *parser) setPublicKey(line int, key, value string) {
	k, err := parseKey(value)
	if err != nil {
		p.fail(line, key, err.Error(), "use the peer's `wg pubkey`", nil)
		return
	}
	i, f := p.peer()
	p.cfg.Peers[i].PublicKey = k
	p.at[f+".PublicKey"] = source{line, key}
}

func (p *parser) setPresharedKey(line int, key, value string) {
	k, err := parseKey(value)
	if err != nil {
		p.fail(line, key, err.Error(), "use the output of `wg genpsk`, the same on both ends", nil)
		return
	}
	i, f := p.peer()
	p.cfg.Peers[i].PresharedKey = k
	p.at[f+".PresharedKey"] = source{line, key}
}

func (p *parser) setEndpoint(line int, key, value string) {
	ep, host, port, err := parseEndpoint(value)
	if err != nil {
		p.fail(line, key, err.Error(), "write address:port, such as 203.0.113.2:51822, [2001:db8::2]:51822 or app.example.com:51822", err)
		return
	}
	i, f := p.peer()
	p.peers[i].host, p.peers[i].port = host, port
	p.cfg.Peers[i].Endpoint = ep
	p.at[f+".Endpoint"] = source{line, key}
}

func (p *parser) setAllowedIPs(line int, key, value string) {
	i, _ := p.peer()
	for _, pr := range p.prefixes(line, key, value) {
		p.cfg.Peers[i].AllowedIPs = append(p.cfg.Peers[i].AllowedIPs, pr)
		p.peers[i].allowed = append(p.peers[i].allowed, source{line, key})
	}
}

func (p *parser) setKeepalive(line int, key, value string) {
	d, err := parseKeepalive(value)
	if err != nil {
		p.fail(line, key, err.Error(), "use seconds such as 25, or off", nil)
		return
	}
	i, f := p.peer()
	p.cfg.Peers[i].PersistentKeepalive = d
	p.at[f+".PersistentKeepalive"] = source{line, key}
}

func (p *parser) setTransparent(line int, key, value string) {
	i, _ := p.peer()
	prefixes, names := p.transparentItems(line, key, value)
	for _, pr := range prefixes {
		p.cfg.Peers[i].Transparent = append(p.cfg.Peers[i].Transparent, pr)
		p.peers[i].transparent = append(p.peers[i].transparent, source{line, key})
	}
	for _, n := range names {
		p.cfg.Peers[i].TransparentNames = append(p.cfg.Peers[i].TransparentNames, n)
		p.peers[i].names = append(p.peers[i].names, source{line, key})
	}
}

func (p *parser) setExpectedEndpoint(line int, key, value string) {
	ep, err := netip.ParseAddrPort(value)
	if err != nil || ep.Port() == 0 {
		p.fail(line, key, fmt.Sprintf("%q is not address:port", value), "write the peer's public address and WireGuard port, such as 198.51.100.1:51821", err)
		return
	}
	i, f := p.peer()
	p.cfg.Peers[i].ExpectedEndpoint = ep
	p.at[f+".ExpectedEndpoint"] = source{line, key}
}

// Keys lists the keys a file may have, in their canonical spelling:
// those of [Interface] and those of [Peer], each sorted (for
// documentation and its tests).
func Keys() (iface, peer []string) {
	for _, s := range interfaceKeys {
		iface = append(iface, s.name)
	}
	for _, s := range peerKeys {
		peer = append(peer, s.name)
	}
	slices.Sort(iface)
	slices.Sort(peer)
	return iface, peer
}
