package main

import (
	"context"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// staleHandshake is when wireguard-tools' reresolve-dns.sh looks a peer's
// Endpoint name up again: no handshake for 135 seconds (a session lives
// 120 seconds after its handshake; by then a new handshake has failed a
// few times).
const staleHandshake = 135 * time.Second

// stalePeers are the peers with an Endpoint name (f.EndpointNames) whose
// latest handshake is older than staleHandshake, or that never had one.
func stalePeers(f *wgquick.File, dev *wgtypes.Device, now time.Time) []int {
	last := map[wgtypes.Key]time.Time{}
	if dev != nil {
		for _, p := range dev.Peers {
			last[p.PublicKey] = p.LastHandshakeTime
		}
	}
	var out []int
	for i, host := range f.EndpointNames {
		if host == "" || i >= len(f.Config.Peers) {
			continue
		}
		if t := last[f.Config.Peers[i].PublicKey]; t.IsZero() || now.Sub(t) > staleHandshake {
			out = append(out, i)
		}
	}
	return out
}

// reresolve looks up the Endpoint names of the stale peers again and, when
// an address changed, gives the tunnel the new config and applies it (the
// device's endpoint and the exception rule follow), unless the tunnel was
// brought down meanwhile (ErrBroughtDown). It returns whether anything
// changed.
func (c *command) reresolve(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (bool, error) {
	dev, err := tun.Device()
	if err != nil {
		return false, err
	}
	stale := stalePeers(f, dev, time.Now())
	if len(stale) == 0 {
		return false, nil
	}
	// Resolve only the stale peers' names, on a copy.
	g := *f
	g.Config.Peers = append([]transparent.Peer(nil), f.Config.Peers...)
	g.EndpointNames = make([]string, len(f.EndpointNames))
	for _, i := range stale {
		g.EndpointNames[i] = f.EndpointNames[i]
	}
	changed, err := g.Resolve(ctx, c.lookupEndpoint)
	if len(changed) == 0 {
		return false, err
	}
	for _, i := range changed {
		c.logf("[#] %s: Endpoint %s now resolves to %s", f.Config.Name, f.EndpointNames[i], g.Config.Peers[i].Endpoint)
	}
	if serr := tun.SetConfig(g.Config); serr != nil {
		return false, serr
	}
	f.Config = g.Config
	c.cfg = g.Config             // a failed reload later restores this config, not the old address
	return true, tun.Repair(ctx) // nothing, when another process brought the tunnel down
}
