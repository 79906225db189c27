package transparent_test

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// documentedInvalid returns why the documentation refuses the case's
// config (Config's field comments, and the rules of Linux and WireGuard
// that they refer to), or nil. It is written from the docs, not from
// Validate, so that TestProperty can hold Validate to them; it covers
// the plain rules only, not overlaps and the like.
func (c propCase) documentedInvalid() []string {
	var why []string
	add := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	cfg := c.cfg
	if r := ifNameProblem(cfg.Name, cfg.Name+strings.Repeat("0", c.uniq)); r != "" {
		add("Name %s", r)
	}
	if cfg.PrivateKey == (wgtypes.Key{}) {
		add("PrivateKey is not set (required)")
	}
	if cfg.ListenPort < 0 || cfg.ListenPort > math.MaxUint16 {
		add("ListenPort %d is not a UDP port", cfg.ListenPort)
	}
	if cfg.MTU != 0 && (cfg.MTU < 576 || cfg.MTU > math.MaxUint16) {
		add("MTU %d is outside IPv4's 576 to 65535", cfg.MTU)
	}
	for _, a := range cfg.Addresses {
		if cfg.MTU != 0 && cfg.MTU < 1280 && a.Addr().Is6() {
			add("MTU %d is below IPv6's minimum of 1280 with IPv6 address %s", cfg.MTU, a)
			break
		}
	}
	switch {
	case cfg.Table == transparent.TableAuto:
	case cfg.Table == transparent.TableOff: // a plain tunnel: nothing to route or translate
		for _, p := range cfg.Peers {
			if len(p.Transparent) > 0 || len(p.TransparentNames) > 0 {
				add("Table is off, but a peer has Transparent destinations")
				break
			}
		}
		if cfg.SNAT != transparent.SNATOff {
			add("Table is off, but SNAT is set")
		}
	case cfg.Table < 0 || cfg.Table > math.MaxUint32 || cfg.Table >= 253 && cfg.Table <= 255:
		add("Table %d is not a table number outside 253-255", cfg.Table)
	}
	if cfg.Priority != 0 && cfg.Priority != transparent.PriorityAuto && (cfg.Priority < 1 || cfg.Priority > 32763) {
		add("Priority %d is outside 1 to 32763", cfg.Priority)
	}
	if cfg.PeerRoute > transparent.PeerRouteMain {
		add("PeerRoute %d is not an option", cfg.PeerRoute)
	}
	if cfg.Exception > transparent.ExceptionFwMark {
		add("Exception %d is not an option", cfg.Exception)
	}
	if cfg.SNAT > transparent.SNATInbound {
		add("SNAT %d is not an option", cfg.SNAT)
	}
	if len(cfg.Addresses) == 0 {
		add("Addresses is empty (at least one)")
	}
	if len(cfg.Peers) == 0 {
		add("Peers is empty (at least one)")
	}
	for i, p := range cfg.Peers {
		if p.PublicKey == (wgtypes.Key{}) {
			add("Peers[%d].PublicKey is not set (required)", i)
		}
		if ka := p.PersistentKeepalive; ka < 0 || ka > math.MaxUint16*time.Second || ka%time.Second != 0 {
			add("Peers[%d].PersistentKeepalive %s is not WireGuard's 0 to 65535 seconds", i, ka)
		}
		for k, ep := range []netip.AddrPort{p.Endpoint, p.ExpectedEndpoint} {
			if ep.Addr().IsValid() && ep.Port() == 0 {
				add("Peers[%d].%s %s has no port", i, []string{"Endpoint", "ExpectedEndpoint"}[k], ep)
			}
		}
	}
	return why
}

// ifNameProblem says why Linux refuses name as an interface name (the
// kernel's dev_valid_name, and '%', which makes a name a template such as
// "wg%d"), or "". base is the name as shown, without its random digits.
func ifNameProblem(base, name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 15:
		return fmt.Sprintf("%q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not allowed", name)
	}
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case b == 0:
			return fmt.Sprintf("%q contains a NUL byte, which ends a name for Linux", base)
		case b == '/' || b == ':':
			return fmt.Sprintf("%q contains %q", base, b)
		case b == ' ' || b >= '\t' && b <= '\r' || b == 0xa0: // the kernel's isspace
			return fmt.Sprintf("%q contains byte %#x, white space to Linux", base, b)
		case b == '%':
			return fmt.Sprintf("%q contains '%%', which makes it a name template to Linux (wg%%d makes wg0)", base)
		}
	}
	return ""
}
