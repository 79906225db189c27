package wgquick

import (
	"net/netip"
	"slices"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// WithDevice returns f with the running device's state written into it,
// for `save` (as `wg-quick save` does): the device's ListenPort, private
// key (unless the file reads it from PrivateKeyFile), and peers. A peer of
// the file keeps its place, its Endpoint name (when the file writes one),
// ExpectedEndpoint, Transparent prefixes and names, and takes the
// device's PresharedKey, Endpoint, PersistentKeepalive and AllowedIPs
// less those its Transparent prefixes and names add (a single address not
// in the file's AllowedIPs, for a peer with names). A peer the file does
// not have is added after them, with all of its AllowedIPs; a peer the
// device no longer has is left out. Everything else of f is kept.
func (f *File) WithDevice(dev *wgtypes.Device) *File {
	out := *f
	c := f.Config
	c.ListenPort = dev.ListenPort
	if f.PrivateKeyFile == "" {
		c.PrivateKey = dev.PrivateKey
	}
	byKey := map[wgtypes.Key]wgtypes.Peer{}
	for _, p := range dev.Peers {
		byKey[p.PublicKey] = p
	}
	c.Peers = nil
	out.EndpointNames, out.EndpointPorts = nil, nil
	var names []string
	var ports []uint16
	for i, p := range f.Config.Peers {
		d, ok := byKey[p.PublicKey]
		if !ok {
			continue
		}
		delete(byKey, p.PublicKey)
		c.Peers = append(c.Peers, savedPeer(p, d))
		name, port := "", uint16(0)
		if i < len(f.EndpointNames) {
			name, port = f.EndpointNames[i], f.EndpointPorts[i]
		}
		names, ports = append(names, name), append(ports, port)
	}
	for _, d := range dev.Peers {
		if _, ok := byKey[d.PublicKey]; ok {
			c.Peers = append(c.Peers, savedPeer(transparent.Peer{PublicKey: d.PublicKey}, d))
			names, ports = append(names, ""), append(ports, 0)
		}
	}
	if slices.ContainsFunc(names, func(n string) bool { return n != "" }) {
		out.EndpointNames, out.EndpointPorts = names, ports
	}
	out.Config = c
	return &out
}

// savedPeer is p with the device's settings of its peer d.
func savedPeer(p transparent.Peer, d wgtypes.Peer) transparent.Peer {
	p.PresharedKey = d.PresharedKey
	p.PersistentKeepalive = d.PersistentKeepaliveInterval
	if d.Endpoint != nil {
		if ap := d.Endpoint.AddrPort(); ap.IsValid() {
			p.Endpoint = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	var allowed []netip.Prefix
	for _, n := range d.AllowedIPs {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		bits, _ := n.Mask.Size()
		pr := netip.PrefixFrom(a.Unmap(), bits).Masked()
		switch {
		case slices.ContainsFunc(p.Transparent, func(t netip.Prefix) bool { return t.Masked() == pr }):
		case len(p.TransparentNames) > 0 && pr.IsSingleIP() && !slices.Contains(p.AllowedIPs, pr):
		default:
			allowed = append(allowed, pr)
		}
	}
	if !sameSet(allowed, p.AllowedIPs) { // else the file's, in its order and form
		p.AllowedIPs = allowed
	}
	return p
}

// sameSet reports whether a and b hold the same prefixes, masked.
func sameSet(a, b []netip.Prefix) bool {
	norm := func(l []netip.Prefix) []netip.Prefix {
		out := make([]netip.Prefix, len(l))
		for i, p := range l {
			out[i] = p.Masked()
		}
		slices.SortFunc(out, func(x, y netip.Prefix) int {
			if c := x.Addr().Compare(y.Addr()); c != 0 {
				return c
			}
			return x.Bits() - y.Bits()
		})
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}
