package transparent

import (
	"log/slog"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

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
