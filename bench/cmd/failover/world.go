package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The article's addresses (testns.Article).
var (
	publicA = netip.MustParseAddr("198.51.100.1")
	publicB = netip.MustParseAddr("203.0.113.2")
	tunA    = netip.MustParseAddr("10.0.0.1")
	tunB    = netip.MustParseAddr("10.0.0.2")
)

const (
	portB    = 51822 // B's WireGuard port: the one the router cuts
	portA    = 51821
	httpPort = 8080 // the bench's own server on B, which names the client
)

// world is the article's Internet (router, A, B, C) with B's plain tunnel
// up, the bench's server on B and a counter at the router of what leaves
// A for B's public address unencrypted.
type world struct {
	*testns.World
	keyA, keyB   wgtypes.Key
	nameA, nameB string
	tunB         *transparent.Tunnel
}

func newWorld(ctx context.Context, s *testns.Session) (*world, error) {
	w := &world{World: testns.Article(s)}
	var err error
	if w.keyA, err = wgtypes.GeneratePrivateKey(); err != nil {
		return nil, err
	}
	if w.keyB, err = wgtypes.GeneratePrivateKey(); err != nil {
		return nil, err
	}
	suffix := make([]byte, 3)
	rand.Read(suffix)
	w.nameA, w.nameB = "wgfxa"+hex.EncodeToString(suffix), "wgfxb"+hex.EncodeToString(suffix)
	cfgB := transparent.Config{
		Name: w.nameB, PrivateKey: w.keyB, ListenPort: portB,
		Addresses: []netip.Prefix{netip.PrefixFrom(tunB, 32)},
		Peers:     []transparent.Peer{{PublicKey: w.keyA.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(tunA, 32)}}},
	}
	if w.tunB, err = transparent.New(cfgB, transparent.WithNetNS(w.B.Path)); err != nil {
		return nil, err
	}
	if err := w.tunB.Up(ctx); err != nil {
		return nil, fmt.Errorf("bring B's tunnel up: %w", err)
	}
	s.Cleanup(func() { w.tunB.Down(context.Background()); w.tunB.Close() })
	if err := w.serve(s); err != nil {
		return nil, err
	}
	if _, err := w.Router.Nft(`table inet wgfxcount {
	counter plain {}
	chain count {
		type filter hook forward priority -10;
		ip saddr 198.51.100.1 ip daddr 203.0.113.2 udp dport 51822 return
		ip saddr 198.51.100.1 ip daddr 203.0.113.2 counter name plain
	}
}`); err != nil {
		return nil, err
	}
	return w, nil
}

// configA is A as the article has it, with the peer's Fallback.
func (w *world) configA(f transparent.Fallback) transparent.Config {
	return transparent.Config{
		Name: w.nameA, PrivateKey: w.keyA, ListenPort: portA, Table: 123, Priority: 455,
		Addresses: []netip.Prefix{netip.PrefixFrom(tunA, 32)},
		Peers: []transparent.Peer{{
			PublicKey:   w.keyB.PublicKey(),
			Endpoint:    netip.AddrPortFrom(publicB, portB),
			AllowedIPs:  []netip.Prefix{netip.PrefixFrom(tunB, 32)},
			Transparent: []netip.Prefix{netip.PrefixFrom(publicB, 32)},
			Fallback:    f,
		}},
	}
}

// serve runs an HTTP server on B's port 8080 that answers with the
// client's address: the client learns which way each request went.
func (w *world) serve(s *testns.Session) error {
	var ln net.Listener
	err := w.B.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", httpPort))
		return err
	})
	if err != nil {
		return fmt.Errorf("listen in B: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		a, _ := netip.ParseAddrPort(r.RemoteAddr)
		io.WriteString(rw, a.Addr().Unmap().String())
	})}
	go srv.Serve(ln)
	s.Cleanup(func() { srv.Close() })
	return nil
}

// cut drops B's WireGuard UDP at the router, both ways; heal lets it
// through again.
func (w *world) cut() error  { return w.Router.CutUDP("wgfxcut", portB) }
func (w *world) heal() error { return w.Router.HealUDP("wgfxcut") }

var packetsRe = regexp.MustCompile(`packets (\d+)`)

// plain is the router's count of packets from A's public address to B's
// that were not WireGuard's: what left A unencrypted.
func (w *world) plain() (int, error) {
	var out []byte
	err := w.Router.Do(func() (err error) {
		out, err = exec.Command("nft", "list", "counter", "inet", "wgfxcount", "plain").CombinedOutput()
		return err
	})
	m := packetsRe.FindSubmatch(out)
	if err != nil || m == nil {
		return 0, fmt.Errorf("read the router's counter: %v: %s", err, out)
	}
	return strconv.Atoi(string(m[1]))
}
