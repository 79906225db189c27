package transparent

import (
	"log/slog"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The private and preshared keys must never reach a log, an error or a
// printout. Config and Peer therefore format themselves (config_string.go)
// without them: a private key as its public key, a preshared key as
// "preshared key set".

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
