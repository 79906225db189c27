package wgquick

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// endpoint is peer i's Endpoint as the file writes it: host:port for a
// name, the address and port otherwise, "" for none.
func (f *File) endpoint(i int) string {
	ep := f.Config.Peers[i].Endpoint
	if !ep.IsValid() {
		return ""
	}
	if i < len(f.EndpointNames) && f.EndpointNames[i] != "" {
		return net.JoinHostPort(f.EndpointNames[i], strconv.Itoa(int(ep.Port())))
	}
	return ep.String()
}

// Resolve looks up the host name of every Endpoint in EndpointNames again
// and sets Config.Peers[i].Endpoint to its first address, keeping the port.
// It returns the indexes of the peers whose address changed. A name that
// does not resolve keeps its old address and is reported; the others are
// still updated.
func (f *File) Resolve(ctx context.Context) (changed []int, err error) {
	var errs []error
	for i, host := range f.EndpointNames {
		if host == "" || i >= len(f.Config.Peers) {
			continue
		}
		old := f.Config.Peers[i].Endpoint
		a, err := resolveHost(ctx, host)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve Endpoint of [Peer] %d: %w", i+1, err))
			continue
		}
		if a != old.Addr() {
			f.Config.Peers[i].Endpoint = netip.AddrPortFrom(a, old.Port())
			changed = append(changed, i)
		}
	}
	return changed, errors.Join(errs...)
}

// resolveHost returns the first address of host, within resolveTimeout.
func resolveHost(ctx context.Context, host string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := lookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot resolve %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%q has no address", host)
	}
	return addrs[0].Unmap(), nil
}
