package transparent

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// shortKeyLen is how much of a peer's public key String shows: enough to
// tell peers apart, as `wg show` users do by eye.
const shortKeyLen = 8

// String is a readable one-line summary, with the zero values' defaults
// filled in, and without secrets: the private key appears as its public
// key, a preshared key only as "preshared key"; peers by the start of
// their public key. See ExampleConfig_String.
func (c Config) String() string {
	d := c.WithDefaults()
	var b strings.Builder
	name := c.Name
	if name == "" {
		name = "(no name)"
	}
	fmt.Fprintf(&b, "%s: public key %s, %s %s", name, publicKey(c.PrivateKey), summaryPlural(len(c.Addresses), "address", "addresses"), summaryPrefixes(c.Addresses))
	if c.ListenPort != 0 {
		fmt.Fprintf(&b, ", listen port %d", c.ListenPort)
	}
	fmt.Fprintf(&b, ", MTU %d, table %s, priority %s, peer route %s, exception %s", d.MTU, layoutValue(d.Table), layoutValue(d.Priority), c.PeerRoute, c.Exception)
	if d.FwMark != 0 {
		fmt.Fprintf(&b, ", fwmark %#x", d.FwMark)
	}
	fmt.Fprintf(&b, ", SNAT %s", c.SNAT)
	if len(c.PublicAddresses) > 0 {
		a := make([]string, len(c.PublicAddresses))
		for i, x := range c.PublicAddresses {
			a[i] = x.String()
		}
		fmt.Fprintf(&b, ", public %s", strings.Join(a, " "))
	}
	if c.Health != (HealthCheck{}) {
		h := c.Health.WithDefaults()
		fmt.Fprintf(&b, ", health every %s, fail after %d, recover after %d", h.Interval, h.FailAfter, h.RecoverAfter)
	}
	fmt.Fprintf(&b, "; %d %s", len(c.Peers), summaryPlural(len(c.Peers), "peer", "peers"))
	secrets := c.secrets()
	for i, p := range c.Peers {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep + p.summary(secrets))
	}
	return b.String()
}

// String is a readable summary of the peer without its preshared key:
// its public key's first characters, endpoints, and how many prefixes.
// A PublicKey equal to the PresharedKey is hidden; one equal to the
// private key is hidden by Config's String.
func (p Peer) String() string {
	return p.summary(map[wgtypes.Key]bool{p.PresharedKey: p.PresharedKey != (wgtypes.Key{})})
}

// summary is String, hiding the public key if it is among secrets.
func (p Peer) summary(secrets map[wgtypes.Key]bool) string {
	var b strings.Builder
	if secrets[p.PublicKey] {
		b.WriteString(hiddenKey)
	} else {
		b.WriteString(summaryKey(p.PublicKey))
	}
	if p.Endpoint.IsValid() {
		fmt.Fprintf(&b, " endpoint %s", p.Endpoint)
	}
	if p.ExpectedEndpoint.IsValid() {
		fmt.Fprintf(&b, " expected endpoint %s", p.ExpectedEndpoint)
	}
	fmt.Fprintf(&b, ", %d %s, %d %s", len(p.AllowedIPs), summaryPlural(len(p.AllowedIPs), "allowed IP", "allowed IPs"),
		len(p.Transparent), summaryPlural(len(p.Transparent), "transparent prefix", "transparent prefixes"))
	if len(p.TransparentNames) > 0 {
		fmt.Fprintf(&b, ", %d %s", len(p.TransparentNames), summaryPlural(len(p.TransparentNames), "transparent name", "transparent names"))
	}
	if p.PresharedKey != (wgtypes.Key{}) {
		b.WriteString(", preshared key")
	}
	if p.PersistentKeepalive != 0 {
		fmt.Fprintf(&b, ", keepalive %s", p.PersistentKeepalive.Round(time.Second))
	}
	if p.Fallback != FallbackNone {
		fmt.Fprintf(&b, ", fallback %s", p.Fallback)
	}
	return b.String()
}

// shortKey is the start of a public key, "(no key)" for none.
func summaryKey(k wgtypes.Key) string {
	if k == (wgtypes.Key{}) {
		return "(no key)"
	}
	return k.String()[:shortKeyLen] + "…"
}

func summaryPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func summaryPrefixes(list []netip.Prefix) string {
	if len(list) == 0 {
		return "none"
	}
	s := make([]string, len(list))
	for i, p := range list {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// layoutValue writes a Table or Priority: a number, or TableAuto,
// PriorityAuto and TableOff by their wg-quick names.
func layoutValue(v int) string {
	switch v {
	case TableAuto: // = PriorityAuto
		return "auto"
	case TableOff:
		return "off"
	}
	return strconv.Itoa(v)
}
