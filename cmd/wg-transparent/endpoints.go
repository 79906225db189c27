package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/resolve"
	"github.com/wgtransparent/transparent/wgquick"
)

// resolvingVerbs are the verbs that need the peers' Endpoint addresses,
// and look their host names up: up, run and reload give them to the device and
// the exception rules, check compares them with the kernel's. Parsing
// looks nothing up, so that the other verbs work with DNS down.
var resolvingVerbs = map[string]bool{"up": true, "run": true, "reload": true, "check": true}

// tunnelConfig is the Config the verb gives the library. up, run and
// check resolve the file's Endpoint host names and fail when one does
// not resolve; plan tries, and shows a name that does not resolve with a
// stand-in address (saying so); down and show never look a name up: they
// do not use the peers' addresses (down removes what the record and the
// kernel hold), and get stand-ins (wgquick's StandInConfig).
func (c *command) tunnelConfig(ctx context.Context, f *wgquick.File) (transparent.Config, error) {
	if len(f.EndpointNames) == 0 {
		return f.Config, nil
	}
	switch {
	case resolvingVerbs[c.verb]:
		if _, err := f.Resolve(ctx, c.lookupEndpoint); err != nil {
			return transparent.Config{}, err
		}
		return f.Config, nil
	case c.verb == "plan":
		_, err := f.Resolve(ctx, c.lookupEndpoint)
		cfg, standIns := f.StandInConfig()
		for i, ep := range standIns {
			c.logf("[note] Endpoint %s:%d of [Peer] %d is not resolved (%v): the plan shows %s in its place; up resolves it", f.EndpointNames[i], ep.Port(), i+1, err, ep)
		}
		return cfg, nil
	}
	cfg, _ := f.StandInConfig()
	return cfg, nil
}

// lookupEndpoint resolves an Endpoint host name as a program in the
// tunnel's namespace would (`ip netns exec` gives it its files): first
// the hosts file (/etc/netns/NAME/hosts for --netns NAME when that
// exists, else /etc/hosts), as wg(8) finds it; then, as the library
// resolves Transparent names, the namespace's name server (the first
// nameserver of /etc/netns/NAME/resolv.conf, else of /etc/resolv.conf)
// from a socket made inside that namespace, within ctx.
func (c *command) lookupEndpoint(ctx context.Context, host string) ([]netip.Addr, error) {
	path := ""
	if c.netns != "" {
		path = c.netnsPath()
	}
	if addrs, err := resolve.HostsFor(path, host); err != nil || len(addrs) > 0 {
		return addrs, err
	}
	server, err := resolve.ServerFor(path)
	if err != nil {
		return nil, err
	}
	r := &resolve.Resolver{Server: server, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		var conn net.Conn
		err := c.inNetNS(func() (err error) {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, address)
			return err
		})
		return conn, err
	}}
	a, err := r.Lookup(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", server, err)
	}
	return a.Addrs, nil
}
