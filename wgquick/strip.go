package wgquick

import (
	"fmt"
	"slices"
)

// Strip writes f as a plain `wg` configuration, as `wg-quick strip` does,
// for `wg setconf` and `wg syncconf`: [Interface] PrivateKey (when known:
// read it with ReadPrivateKey for a PrivateKeyFile), ListenPort and FwMark
// (in fwmark exception mode the mark the device gets); each [Peer] with
// PublicKey, PresharedKey, Endpoint (a host name as the file writes it),
// AllowedIPs as the device has them (the tunnel's, the Transparent
// prefixes and the addresses of ResolvedNames) and PersistentKeepalive.
// The keys only wg-quick and this library know (Address, DNS, MTU,
// Table, the hooks, the transparent keys) are left out. Strip is pure.
func Strip(f *File) []byte {
	c := withNameAddresses(f.Config.WithDefaults(), f.ResolvedNames)
	c.PrivateKey = f.Config.PrivateKey // as the file has it, not clamped
	var w writer
	w.line("[Interface]")
	if !isZeroKey(c.PrivateKey) {
		w.kv("PrivateKey", c.PrivateKey.String())
	}
	if c.ListenPort != 0 {
		w.kv("ListenPort", fmt.Sprint(c.ListenPort))
	}
	if c.FwMark != 0 {
		w.kv("FwMark", fmt.Sprintf("%#x", c.FwMark))
	}
	for i, peer := range c.Peers {
		w.peer(peer, f.endpoint(i), append(slices.Clip(peer.AllowedIPs), peer.Transparent...))
		w.keepalive(peer)
	}
	return w.Bytes()
}

func isZeroKey(k [32]byte) bool { return k == [32]byte{} }
