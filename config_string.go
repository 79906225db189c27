package transparent

import (
	"fmt"
	"log/slog"
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

// The private and preshared keys must never reach a log, an error or a
// printout. Config and Peer therefore format themselves without them: a
// private key as its public key, a preshared key as "preshared key set".
// A secret pasted where a public key belongs (a peer's PublicKey) is
// printed as hiddenKey wherever that key would be printed.

// hiddenKey stands for a secret key in a printout.
const hiddenKey = "(hidden)"

// RedactKey is k as the library prints it for the config c: its base64,
// or "(hidden)" when it is one of c's secrets (the private key or a
// preshared key), such as a private key pasted as a peer's PublicKey.
// Programs printing keys that belong to c, such as a device's peers, use
// it to hide what the library hides.
func (c Config) RedactKey(k wgtypes.Key) string {
	return keyText(k, c.secrets())
}

// secrets are c's secret keys.
func (c Config) secrets() map[wgtypes.Key]bool {
	s := map[wgtypes.Key]bool{}
	if c.PrivateKey != (wgtypes.Key{}) {
		s[c.PrivateKey] = true
	}
	for _, p := range c.Peers {
		if p.PresharedKey != (wgtypes.Key{}) {
			s[p.PresharedKey] = true
		}
	}
	return s
}

// keyText is k's base64, or hiddenKey when it is among secrets.
func keyText(k wgtypes.Key, secrets map[wgtypes.Key]bool) string {
	if secrets[k] {
		return hiddenKey
	}
	return k.String()
}

// GoString is String, so that %#v hides the keys too.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the redacted form.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// GoString is String, so that %#v hides the key too.
func (p Peer) GoString() string { return p.String() }

// LogValue makes slog print the redacted form.
func (p Peer) LogValue() slog.Value { return slog.StringValue(p.String()) }

func publicKey(k wgtypes.Key) string {
	if k == (wgtypes.Key{}) {
		return "none"
	}
	return k.PublicKey().String()
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
