//go:build linux

package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The article's addresses (testns.Article), and the soak's own.
var (
	publicB = netip.MustParseAddr("203.0.113.2")
	publicC = netip.MustParseAddr("192.0.2.3") // the name server
	tunA    = netip.MustParseAddr("10.0.0.1")
	tunB    = netip.MustParseAddr("10.0.0.2")
	// nameAddrs are the answers the soak's name moves between: routed,
	// never reached.
	nameAddrs = [2]netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")}
	// reloadExtra is what the second of the two reloaded configs adds.
	reloadExtra = netip.MustParsePrefix("198.19.0.0/24")
)

const (
	portA, portB = 51821, 51822
	table        = 123 // the tunnel's routing table
	priority     = 455
	soakName     = "soak.example." // the Transparent name
	// nameFloor is the soak's TTL floor: the name server answers with TTL
	// 0, so the name is asked again every nameFloor, and the soak can
	// move it that often.
	nameFloor = 200 * time.Millisecond
	// cutTable is the router's nf_tables table that drops B's WireGuard UDP.
	cutTable = "wgsocut"
)

// health fails the peer over after 1 s without an answer and brings it
// back after 200 ms of answers: fast cycles, with room for a loaded
// machine.
var health = transparent.HealthCheck{Interval: 100 * time.Millisecond, FailAfter: 10, RecoverAfter: 2}

// world is the article's Internet with B's plain tunnel up, a name server
// on C, and A's Tunnel (not up yet).
type world struct {
	*testns.World
	dns        *testns.DNSServer
	keyA, keyB wgtypes.Key
	nameA      string
	cfgs       [2]transparent.Config // the two configs reloads alternate
	a, b       *transparent.Tunnel
}

func newWorld(t testns.TB, o Options) (*world, error) {
	w := &world{World: testns.Article(t)}
	var err error
	if w.keyA, err = wgtypes.GeneratePrivateKey(); err != nil {
		return nil, err
	}
	if w.keyB, err = wgtypes.GeneratePrivateKey(); err != nil {
		return nil, err
	}
	suffix := make([]byte, 3)
	rand.Read(suffix)
	w.nameA = "wgsoa" + hex.EncodeToString(suffix)
	nameB := "wgsob" + hex.EncodeToString(suffix)
	w.dns = testns.DNS(t, w.C, publicC)
	w.dns.Set(soakName, 0, nameAddrs[0])

	cfgB := transparent.Config{
		Name: nameB, PrivateKey: w.keyB, ListenPort: portB,
		Addresses: []netip.Prefix{netip.PrefixFrom(tunB, 32)},
		Peers:     []transparent.Peer{{PublicKey: w.keyA.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(tunA, 32)}}},
	}
	if w.b, err = transparent.New(cfgB, transparent.WithNetNS(w.B.Path), transparent.WithBackend(o.Backend)); err != nil {
		return nil, err
	}
	t.Cleanup(func() { w.b.Down(context.Background()); w.b.Close() })
	if err := w.b.Up(context.Background()); err != nil {
		return nil, fmt.Errorf("bring B's tunnel up: %w", err)
	}

	w.cfgs[0] = transparent.Config{
		Name: w.nameA, PrivateKey: w.keyA, ListenPort: portA, Table: table, Priority: priority,
		Addresses: []netip.Prefix{netip.PrefixFrom(tunA, 32)},
		SNAT:      transparent.SNATOutbound,
		Health:    health,
		Peers: []transparent.Peer{{
			PublicKey:        w.keyB.PublicKey(),
			Endpoint:         netip.AddrPortFrom(publicB, portB),
			AllowedIPs:       []netip.Prefix{netip.PrefixFrom(tunB, 32)},
			Transparent:      []netip.Prefix{netip.PrefixFrom(publicB, 32)},
			TransparentNames: []string{soakName},
			Fallback:         transparent.FallbackInternet,
		}},
	}
	w.cfgs[1] = w.cfgs[0]
	w.cfgs[1].Peers = []transparent.Peer{w.cfgs[0].Peers[0]}
	w.cfgs[1].Peers[0].Transparent = []netip.Prefix{netip.PrefixFrom(publicB, 32), reloadExtra}

	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w.a, err = transparent.New(w.cfgs[0], transparent.WithNetNS(w.A.Path), transparent.WithBackend(o.Backend),
		transparent.WithFirewall(transparent.FirewallNftables), transparent.WithLogger(log),
		transparent.WithResolver(netip.AddrPortFrom(publicC, 53)),
		transparent.WithNameTTL(nameFloor, time.Hour), transparent.WithNameGrace(0))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { w.a.Down(context.Background()); w.a.Close() })
	return w, nil
}

// cut drops B's WireGuard UDP at the router, both ways; heal lets it
// through again.
func (w *world) cut() error  { return w.Router.CutUDP(cutTable, portB) }
func (w *world) heal() error { return w.Router.HealUDP(cutTable) }
