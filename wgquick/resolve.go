package wgquick

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/wgtransparent/transparent"
)

// Lookup returns the addresses of a host name. A program that brings a
// tunnel up in a network namespace passes one that asks that
// namespace's name server, from inside it.
type Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

// endpoint is peer i's Endpoint as the file writes it: host:port for a
// name (resolved or not), the address and port otherwise, "" for none.
func (f *File) endpoint(i int) string {
	if i < len(f.EndpointNames) && f.EndpointNames[i] != "" {
		return net.JoinHostPort(f.EndpointNames[i], strconv.Itoa(int(f.endpointPort(i))))
	}
	if ep := f.Config.Peers[i].Endpoint; ep.IsValid() {
		return ep.String()
	}
	return ""
}

// endpointPort is the port of peer i's Endpoint name.
func (f *File) endpointPort(i int) uint16 {
	if i < len(f.EndpointPorts) && f.EndpointPorts[i] != 0 {
		return f.EndpointPorts[i]
	}
	return f.Config.Peers[i].Endpoint.Port()
}

// Resolve looks up the host name of every Endpoint in EndpointNames, with
// lookup (nil means the system's resolver, in the caller's network
// namespace), and sets Config.Peers[i].Endpoint to its first address and
// the file's port. Parse does not look names up: a program calls Resolve
// before it brings the tunnel up, and again to follow a name, as
// wg-quick's reresolve-dns.sh does. It returns the indexes of the peers
// whose address changed. A name that does not resolve keeps its old
// address (none before the first success) and is reported; the others
// are still updated. Each lookup is bounded by ctx and 10 seconds.
func (f *File) Resolve(ctx context.Context, lookup Lookup) (changed []int, err error) {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) { return lookupNetIP(ctx, "ip", host) }
	}
	var errs []error
	for i, host := range f.EndpointNames {
		if host == "" || i >= len(f.Config.Peers) {
			continue
		}
		old := f.Config.Peers[i].Endpoint
		a, err := resolveHost(ctx, lookup, host)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve Endpoint of [Peer] %d: %w", i+1, err))
			continue
		}
		if ep := netip.AddrPortFrom(a, f.endpointPort(i)); ep != old {
			f.Config.Peers[i].Endpoint = ep
			changed = append(changed, i)
		}
	}
	return changed, errors.Join(errs...)
}

// Unresolved returns the indexes of the peers whose Endpoint is a host
// name without an address yet.
func (f *File) Unresolved() []int {
	var out []int
	for i, host := range f.EndpointNames {
		if host != "" && i < len(f.Config.Peers) && !f.Config.Peers[i].Endpoint.IsValid() {
			out = append(out, i)
		}
	}
	return out
}

// namedPorts returns, for each peer by index, the port of its Endpoint
// host name when that has no address yet, else 0.
func (f *File) namedPorts() []uint16 {
	out := make([]uint16, len(f.Config.Peers))
	for _, i := range f.Unresolved() {
		out[i] = f.endpointPort(i)
	}
	return out
}

// standInRanges are where stand-in endpoint addresses come from: the
// IPv4 documentation ranges (RFC 5737), which no real peer has.
var standInRanges = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// StandInConfig returns Config with each Endpoint host name that has no
// address yet (Unresolved) given a stand-in address, with the file's
// port, and the stand-ins by peer index. It is for what needs a Config
// that validates but never uses a peer's address, so that it works
// without DNS: bringing the tunnel down (which removes what the tunnel's
// record and the kernel hold), showing it, checking the file. A stand-in
// is an address of the documentation ranges that no Addresses,
// AllowedIPs or other endpoint holds; never bring a tunnel up with it.
func (f *File) StandInConfig() (transparent.Config, map[int]netip.AddrPort) {
	c := f.Config
	todo := f.Unresolved()
	if len(todo) == 0 {
		return c, nil
	}
	c.Peers = slices.Clone(c.Peers)
	taken := func(a netip.Addr) bool {
		for _, p := range c.Addresses {
			if p.Masked().Contains(a) {
				return true
			}
		}
		for _, peer := range c.Peers {
			if peer.Endpoint.Addr() == a || peer.ExpectedEndpoint.Addr() == a || slices.ContainsFunc(peer.AllowedIPs, func(p netip.Prefix) bool { return p.Contains(a) }) {
				return true
			}
		}
		return false
	}
	out := map[int]netip.AddrPort{}
	for _, r := range standInRanges {
		for a := r.Addr().Next(); r.Contains(a) && len(todo) > 0; a = a.Next() {
			if taken(a) {
				continue
			}
			i := todo[0]
			todo = todo[1:]
			c.Peers[i].Endpoint = netip.AddrPortFrom(a, f.endpointPort(i))
			out[i] = c.Peers[i].Endpoint
		}
	}
	return c, out // a peer left without one (every stand-in taken) fails Validate: Endpoint not set
}

// resolveHost returns the first address of host, within resolveTimeout.
func resolveHost(ctx context.Context, lookup Lookup, host string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot resolve %q: %w", host, err)
	}
	for _, a := range addrs {
		if a.IsValid() {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%q has no address", host)
}
