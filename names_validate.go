package transparent

import (
	"fmt"
	"strings"

	"github.com/wgtransparent/transparent/internal/resolve"
)

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
