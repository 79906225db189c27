//go:build linux

package transparent

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wgtransparent/transparent/internal/inet"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// deviceDiff returns the WireGuard settings that turn the device have into
// what c asks for, or nil when they already match. have is nil for a new
// device. Only what differs is set: a peer whose settings match is left
// alone, so its session survives a repeated Up.
func deviceDiff(c Config, have *wgtypes.Device) *wgtypes.Config {
	var cfg wgtypes.Config
	changed := false
	if have == nil || have.PrivateKey != c.PrivateKey {
		cfg.PrivateKey = &c.PrivateKey
		changed = true
	}
	if c.ListenPort != 0 && (have == nil || have.ListenPort != c.ListenPort) {
		cfg.ListenPort = &c.ListenPort
		changed = true
	}
	if mark := int(c.FwMark); have == nil && mark != 0 || have != nil && have.FirewallMark != mark {
		cfg.FirewallMark = &mark
		changed = true
	}
	current := map[wgtypes.Key]wgtypes.Peer{}
	if have != nil {
		for _, p := range have.Peers {
			current[p.PublicKey] = p
		}
	}
	wanted := map[netip.Prefix]bool{} // every peer's, for the prefixes that move between peers
	for _, p := range c.Peers {
		for _, a := range deviceAllowedIPs(p) {
			wanted[a] = true
		}
	}
	var parked []netip.Prefix
	for _, p := range c.Peers {
		old, ok := current[p.PublicKey]
		delete(current, p.PublicKey)
		if ok && peerMatches(p, old) {
			continue
		}
		changed = true
		if !ok || !sameButAllowedIPs(p, old) {
			cfg.Peers = append(cfg.Peers, peerConfig(p))
			continue
		}
		added, removed := allowedIPsDiff(deviceAllowedIPs(p), old, wanted)
		if len(added) > 0 {
			cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: p.PublicKey, UpdateOnly: true, AllowedIPs: ipNets(added)})
		}
		parked = append(parked, removed...)
	}
	if len(parked) > 0 {
		// Taken from their peer by the parking peer, which then goes with
		// them: no moment without the peer's other prefixes.
		cfg.Peers = append(cfg.Peers,
			wgtypes.PeerConfig{PublicKey: parkingKey, AllowedIPs: ipNets(inet.SortedPrefixes(parked))},
			wgtypes.PeerConfig{PublicKey: parkingKey, Remove: true})
	}
	for key := range current {
		cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: key, Remove: true})
		changed = true
	}
	if !changed {
		return nil
	}
	return &cfg
}

// parkingKey is the public key of a peer that exists only within one
// device change, to take a peer's AllowedIPs away without a moment in
// which its other prefixes are missing. WireGuard can only replace a
// peer's allowed IPs as a whole (wgctrl has no per-prefix removal), and
// while it replaces them, after removing all and before adding them
// again, the packets toward the prefixes that stay find no peer and are
// dropped. An allowed IP belongs to one peer, so giving the prefixes that
// go to this peer moves them alone, at once; the same change then removes
// this peer with them. It is the public key of a fixed private key, so
// that it is a valid key no tunnel uses; one left behind by a crash is an
// unknown peer, which the next Up removes.
var parkingKey = wgtypes.Key(sha256.Sum256([]byte("wgtransparent parking peer"))).PublicKey()

// sameButAllowedIPs reports whether the device's peer have differs from p
// at most in its AllowedIPs.
func sameButAllowedIPs(p Peer, have wgtypes.Peer) bool {
	return have.PresharedKey == p.PresharedKey && have.PersistentKeepaliveInterval == p.PersistentKeepalive &&
		(!p.Endpoint.IsValid() || have.Endpoint != nil && addrPortOf(have.Endpoint) == p.Endpoint)
}

// allowedIPsDiff returns the prefixes that want has and the peer have
// lacks, and those have has that no peer wants (wanted): a prefix that
// moves to another peer is taken by that peer's change.
func allowedIPsDiff(want []netip.Prefix, have wgtypes.Peer, wanted map[netip.Prefix]bool) (added, removed []netip.Prefix) {
	had := map[netip.Prefix]bool{}
	for _, n := range have.AllowedIPs {
		a := inet.PrefixOf(&n)
		had[a] = true
		if !wanted[a] {
			removed = append(removed, a)
		}
	}
	for _, a := range want {
		if !had[a] {
			added = append(added, a)
		}
	}
	return added, removed
}

// peerConfig is the full wgctrl form of p, replacing whatever the device has.
func peerConfig(p Peer) wgtypes.PeerConfig {
	psk, keepalive := p.PresharedKey, p.PersistentKeepalive
	pc := wgtypes.PeerConfig{
		PublicKey:                   p.PublicKey,
		PresharedKey:                &psk,
		PersistentKeepaliveInterval: &keepalive,
		ReplaceAllowedIPs:           true,
		AllowedIPs:                  ipNets(deviceAllowedIPs(p)),
	}
	if p.Endpoint.IsValid() {
		pc.Endpoint = net.UDPAddrFromAddrPort(p.Endpoint)
	}
	return pc
}

// deviceAllowedIPs is the article's first change: the peer's tunnel
// addresses plus its public addresses.
func deviceAllowedIPs(p Peer) []netip.Prefix {
	var all []netip.Prefix
	for _, a := range append(slices.Clip(p.AllowedIPs), p.Transparent...) {
		all = append(all, a.Masked())
	}
	return inet.SortedPrefixes(all)
}

func peerMatches(p Peer, have wgtypes.Peer) bool {
	var got []netip.Prefix
	for _, n := range have.AllowedIPs {
		got = append(got, inet.PrefixOf(&n))
	}
	if !slices.Equal(inet.SortedPrefixes(got), deviceAllowedIPs(p)) ||
		have.PresharedKey != p.PresharedKey ||
		have.PersistentKeepaliveInterval != p.PersistentKeepalive {
		return false
	}
	if !p.Endpoint.IsValid() {
		return true // learned from the peer's handshake; nothing to enforce
	}
	return have.Endpoint != nil && addrPortOf(have.Endpoint) == p.Endpoint
}

// restoreConfig is the wgctrl config that puts a device back into the
// state have, used to roll back a failed Up.
func restoreConfig(have *wgtypes.Device) wgtypes.Config {
	key, port, mark := have.PrivateKey, have.ListenPort, have.FirewallMark
	cfg := wgtypes.Config{PrivateKey: &key, ListenPort: &port, FirewallMark: &mark, ReplacePeers: true}
	for _, p := range have.Peers {
		psk, keepalive := p.PresharedKey, p.PersistentKeepaliveInterval
		cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{
			PublicKey:                   p.PublicKey,
			PresharedKey:                &psk,
			Endpoint:                    p.Endpoint,
			PersistentKeepaliveInterval: &keepalive,
			ReplaceAllowedIPs:           true,
			AllowedIPs:                  p.AllowedIPs,
		})
	}
	return cfg
}

// deviceSecrets are the secret keys of cfg and of the device old (nil for
// none), whose private key cfg keeps when it does not set one.
func deviceSecrets(cfg *wgtypes.Config, old *wgtypes.Device) map[wgtypes.Key]bool {
	secrets := map[wgtypes.Key]bool{}
	if cfg.PrivateKey != nil {
		secrets[*cfg.PrivateKey] = true
	}
	for _, p := range cfg.Peers {
		if p.PresharedKey != nil {
			secrets[*p.PresharedKey] = true
		}
	}
	if old != nil {
		secrets[old.PrivateKey] = true
		for _, p := range old.Peers {
			secrets[p.PresharedKey] = true
		}
	}
	delete(secrets, wgtypes.Key{}) // no key
	return secrets
}

// describeDevice renders a wgctrl config like `wg set`, without keys'
// secrets: nor a peer's key that is one of them (deviceSecrets), such as
// the private key pasted as a peer's PublicKey.
func describeDevice(name string, cfg *wgtypes.Config, old *wgtypes.Device) string {
	secrets := deviceSecrets(cfg, old)
	var b strings.Builder
	b.WriteString("device " + name)
	if cfg.PrivateKey != nil {
		b.WriteString(" private-key (hidden) public-key " + cfg.PrivateKey.PublicKey().String())
	}
	if cfg.ListenPort != nil {
		b.WriteString(" listen-port " + strconv.Itoa(*cfg.ListenPort))
	}
	if cfg.FirewallMark != nil {
		b.WriteString(fmt.Sprintf(" fwmark %#x", *cfg.FirewallMark))
	}
	for _, p := range cfg.Peers {
		b.WriteString(" peer " + keyText(p.PublicKey, secrets))
		if p.Remove {
			b.WriteString(" remove")
			continue
		}
		if p.Endpoint != nil {
			b.WriteString(" endpoint " + p.Endpoint.String())
		}
		var ips []string
		for _, n := range p.AllowedIPs {
			if p.ReplaceAllowedIPs {
				ips = append(ips, n.String())
			} else {
				ips = append(ips, "+"+n.String()) // added to the peer's (wireguard-tools 1.0.20250521)
			}
		}
		b.WriteString(" allowed-ips " + strings.Join(ips, ","))
	}
	return b.String()
}

func ipNets(ps []netip.Prefix) []net.IPNet {
	out := make([]net.IPNet, len(ps))
	for i, p := range ps {
		out[i] = *inet.IPNet(p)
	}
	return out
}

func addrPortOf(u *net.UDPAddr) netip.AddrPort {
	ap := u.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
