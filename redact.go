package transparent

import (
	"fmt"
	"log/slog"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The private and preshared keys must never reach a log, an error or a
// printout. Config and Peer therefore format themselves with the keys
// replaced: a private key by its public key, a preshared key by "(set)".

// redacted is Config without methods, so that formatting it does not
// recurse into Config.String.
type redacted Config

type redactedPeer Peer

// String formats the config with %+v, the private and preshared keys
// hidden.
func (c Config) String() string {
	r := redacted(c)
	r.PrivateKey = hiddenKey
	r.Peers = nil
	peers := make([]string, len(c.Peers))
	for i, p := range c.Peers {
		peers[i] = p.String()
	}
	return unhide(fmt.Sprintf("%+v (public key %s) Peers:%v", r, publicKey(c.PrivateKey), peers))
}

// GoString is String, so that %#v hides the keys too.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the redacted form.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String formats the peer with %+v, its preshared key hidden.
func (p Peer) String() string {
	r := redactedPeer(p)
	if r.PresharedKey != (wgtypes.Key{}) {
		r.PresharedKey = hiddenKey
	}
	return unhide(fmt.Sprintf("%+v", r))
}

// GoString is String, so that %#v hides the key too.
func (p Peer) GoString() string { return p.String() }

// LogValue makes slog print the redacted form.
func (p Peer) LogValue() slog.Value { return slog.StringValue(p.String()) }

// hiddenKey stands in for a secret key while formatting; unhide then
// writes "(hidden)" where it appears.
var hiddenKey = func() (k wgtypes.Key) {
	for i := range k {
		k[i] = 0xFF
	}
	return k
}()

func unhide(s string) string { return strings.ReplaceAll(s, hiddenKey.String(), "(hidden)") }

func publicKey(k wgtypes.Key) string {
	if k == (wgtypes.Key{}) {
		return "none"
	}
	return k.PublicKey().String()
}
