package wgquick

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// validate checks the config with transparent.Config.Validate, and
// reports each problem at the line that set the field. An Endpoint host
// name, not looked up, counts with a stand-in address (StandInConfig):
// its port is checked, its address when Resolve finds it.
func (p *parser) validate() {
	c, _ := p.f.StandInConfig()
	if p.f.PrivateKeyFile != "" && c.PrivateKey == (wgtypes.Key{}) {
		c.PrivateKey[0] = 1 // a stand-in: ReadPrivateKey reads the key at up
	}
	err := c.Validate()
	if err == nil {
		return
	}
	p.locateLists()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *transparent.FieldError
		if !errors.As(e, &fe) {
			p.errs = append(p.errs, fmt.Errorf("%s: %w", p.file, e))
			continue
		}
		src := p.where(fe.Field)
		p.fail(src.line, src.key, fileWords.Replace(fe.Problem), fileWords.Replace(fe.Fix), e)
	}
}

// locateLists records where each element of the config's lists came
// from, by the field names Validate uses.
func (p *parser) locateLists() {
	p.at["Name"] = source{0, "file name"}
	p.at["Peers"] = source{0, "[Peer]"}
	p.at["Addresses"] = source{p.iface, "Address"}
	p.at["PublicAddresses"] = source{p.iface, "PublicAddress"}
	for i, s := range p.addrs {
		p.at[fmt.Sprintf("Addresses[%d]", i)] = s
	}
	if len(p.public) > 0 {
		p.at["PublicAddresses"] = p.public[0]
	}
	if len(p.addrs) > 0 {
		p.at["Addresses"] = p.addrs[0]
	}
	for i, s := range p.public {
		p.at[fmt.Sprintf("PublicAddresses[%d]", i)] = s
	}
	for i, d := range p.peers {
		f := fmt.Sprintf("Peers[%d]", i)
		p.at[f] = source{d.section, "[Peer]"}
		for j, s := range d.allowed {
			p.at[fmt.Sprintf("%s.AllowedIPs[%d]", f, j)] = s
		}
		for j, s := range d.transparent {
			p.at[fmt.Sprintf("%s.Transparent[%d]", f, j)] = s
		}
		for j, s := range d.names {
			p.at[fmt.Sprintf("%s.TransparentNames[%d]", f, j)] = s
		}
	}
}

// where finds the line of a field such as "Peers[0].Transparent[1]": its
// own, else its closest parent's, with the key the file uses for it.
func (p *parser) where(field string) source {
	if s, ok := p.at[field]; ok {
		return s
	}
	key := fileKey(field)
	for f := parentField(field); f != ""; f = parentField(f) {
		if s, ok := p.at[f]; ok {
			return source{s.line, key}
		}
	}
	return source{p.iface, key}
}

// parentField strips the last index or name: "Peers[0].AllowedIPs[1]" ->
// "Peers[0].AllowedIPs" -> "Peers[0]" -> "Peers" -> "".
func parentField(f string) string {
	if strings.HasSuffix(f, "]") {
		if i := strings.LastIndexByte(f, '['); i >= 0 {
			return f[:i]
		}
	}
	if i := strings.LastIndexByte(f, '.'); i >= 0 {
		return f[:i]
	}
	return ""
}

// fileKey is the key that sets a field: "Peers[0].AllowedIPs[1]" ->
// "AllowedIPs", "Addresses" -> "Address".
func fileKey(field string) string {
	for strings.HasSuffix(field, "]") {
		field = parentField(field)
	}
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	switch field {
	case "Addresses":
		return "Address"
	case "PublicAddresses":
		return "PublicAddress"
	case "Peers":
		return "[Peer]"
	case "Name":
		return "file name"
	case "TransparentNames":
		return "Transparent"
	}
	return field
}

// fileWords turns the library's Go names, which Validate's problems and
// fixes give a program, into what a file says instead: its keys and
// values.
var fileWords = strings.NewReplacer(
	"wgtypes.GeneratePrivateKey or ", "",
	"ExceptionFwMark", "`Exception = fwmark`",
	"ExceptionPort", "`Exception = port`",
	"PeerRouteRule", "`PeerRoute = rule`",
	"PeerRoutePrefix", "`PeerRoute = prefix`",
	"PeerRouteMain", "`PeerRoute = main`",
	"RulesPerDestination", "`Rules = destination`",
	"RulesTable", "`Rules = table`",
	"TableAuto", "`auto`",
	"TableOff", "`off`",
	"PriorityAuto", "`auto`",
	"SNATOff", "`SNAT = off`",
	"SNATOutbound", "`SNAT = outbound`",
	"SNATInbound", "`SNAT = inbound`",
	"FallbackNone", "`Fallback = none`",
	"FallbackInternet", "`Fallback = internet`",
	"FallbackBlock", "`Fallback = block`",
)
