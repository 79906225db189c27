// Command demo shows the article's transparent tunnel at work, in
// throwaway network namespaces: it builds the article's Internet (A, B with
// a web server, C, and a router), brings up a plain WireGuard tunnel on B
// and the transparent tunnel on A, and prints B's access log for requests
// from A before Up, after Up and from C, A's rules and table, and the log
// after Down. It removes everything it made when it ends, also on Ctrl-C
// or failure.
//
// With -snat outbound or -snat inbound it shows the article's second half:
// B is made transparent too, and the SNAT rule on A (outbound) or on B
// (inbound) makes B log A's public address 198.51.100.1 for requests that
// went through the tunnel.
//
//	sudo go run ./examples/demo [-v] [-snat off|outbound|inbound]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func main() {
	verbose := flag.Bool("v", false, "log every change the library makes")
	snat := flag.String("snat", "off", "SNAT rule: off, outbound (on A) or inbound (on B)")
	flag.Parse()
	modes := map[string]transparent.SNATMode{"off": transparent.SNATOff, "outbound": transparent.SNATOutbound, "inbound": transparent.SNATInbound}
	mode, ok := modes[*snat]
	if !ok {
		fmt.Fprintf(os.Stderr, "demo: -snat %q: use off, outbound or inbound\n", *snat)
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: run as root (sudo go run ./examples/demo): it builds network namespaces")
		os.Exit(1)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	s := &testns.Session{}
	defer s.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "\ninterrupted: removing the demo's namespaces")
		s.Close()
		os.Exit(130)
	}()

	run(s, logger, mode)
}

func run(s *testns.Session, logger *slog.Logger, snat transparent.SNATMode) {
	fmt.Println("Building the article's Internet in throwaway network namespaces:")
	fmt.Println("  A 198.51.100.1, B 203.0.113.2 (web server on port 80), C 192.0.2.3, and a router.")
	w := testns.Article(s)
	keyA, keyB := mustKey(s), mustKey(s)
	ctx := context.Background()

	cfgB := transparent.Config{
		Name:       "wg-demo-b",
		PrivateKey: keyB,
		ListenPort: 51822,
		Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
		Peers: []transparent.Peer{{
			PublicKey:  keyA.PublicKey(),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		}},
	}
	if snat != transparent.SNATOff {
		// The article's "WireGuard Configuration for Endpoint B": the same
		// changes as on A, so that B's replies to A's public address go
		// back through the tunnel. B has no Endpoint for A; the exception
		// rule uses A's public address and port.
		fmt.Printf("  B is transparent too; SNAT %s (the article's \"Firewall for Endpoint %s\").\n", snat, map[transparent.SNATMode]string{transparent.SNATOutbound: "A", transparent.SNATInbound: "B"}[snat])
		cfgB.Peers[0].Transparent = []netip.Prefix{netip.MustParsePrefix("198.51.100.1/32")}
		cfgB.Peers[0].ExpectedEndpoint = netip.MustParseAddrPort("198.51.100.1:51821")
		if snat == transparent.SNATInbound {
			cfgB.SNAT = snat
		}
	}
	b := newTunnel(s, w.B, logger, cfgB)

	a := newTunnel(s, w.A, logger, transparent.Config{
		Name:       "wg-demo-a",
		PrivateKey: keyA,
		ListenPort: 51821,
		Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Table:      123,
		Priority:   455,
		PeerRoute:  transparent.PeerRouteRule,
		SNAT:       map[bool]transparent.SNATMode{true: transparent.SNATOutbound}[snat == transparent.SNATOutbound],
		Peers: []transparent.Peer{{
			PublicKey:   keyB.PublicKey(),
			Endpoint:    netip.MustParseAddrPort("203.0.113.2:51822"),
			AllowedIPs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
			Transparent: []netip.Prefix{netip.MustParsePrefix("203.0.113.2/32")},
		}},
	})

	fmt.Println("\n1. Tunnel down: A requests http://203.0.113.2/ over the Internet.")
	request(s, w, w.A)

	check(s, "up B", b.Up(ctx))
	check(s, "up A", a.Up(ctx))
	fmt.Printf("\n2. Tunnel up (%s WireGuard device): the same request from A goes through the tunnel.\n", a.Backend())
	request(s, w, w.A)
	fmt.Println("   C, which has no tunnel, still comes over the Internet:")
	request(s, w, w.C)

	fmt.Println("\n   A's policy rules (ip rule) and table 123 (ip route show table 123):")
	d, err := testns.Dump(w.A)
	check(s, "dump A", err)
	for _, prefix := range []string{"rule4 ", "route4 table 123 "} {
		for _, line := range strings.Split(d, "\n") {
			if strings.HasPrefix(line, prefix) {
				fmt.Println("     " + line)
			}
		}
	}
	if snat != transparent.SNATOff {
		who, tun := "A", a
		if snat == transparent.SNATInbound {
			who, tun = "B", b
		}
		fmt.Printf("   %s's SNAT rules, as its Plan reports them (all kept: Up made them):\n", who)
		plan, err := tun.Plan(ctx)
		check(s, "plan "+who, err)
		for _, c := range plan {
			if strings.Contains(c.Step, "SNAT") || strings.Contains(c.Step, "jump from") {
				fmt.Printf("     %s\n       %s\n", c.Step, c.Command)
			}
		}
	}
	if dev, err := b.Device(); err == nil && dev != nil && len(dev.Peers) == 1 {
		p := dev.Peers[0]
		fmt.Printf("   B's WireGuard peer A: endpoint %v, received %d bytes, last handshake %s ago\n",
			p.Endpoint, p.ReceiveBytes, time.Since(p.LastHandshakeTime).Round(time.Millisecond))
	}

	check(s, "down A", a.Down(ctx))
	if snat != transparent.SNATOff {
		// A transparent B would send its replies to A's public address
		// into a tunnel whose other end is down.
		check(s, "down B", b.Down(ctx))
	}
	fmt.Println("\n3. Tunnel down again: the request from A goes over the Internet.")
	request(s, w, w.A)
	fmt.Println("\nDone: removing the namespaces.")
}

// request makes a request from ns to B's public address and prints the
// line B's access log got for it.
func request(s *testns.Session, w *testns.World, from *testns.NS) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := testns.Get(ctx, from, "http://203.0.113.2/")
	check(s, "request from "+from.Name, err)
	fmt.Printf("   B's access log: %s - - [%s] \"GET /\" 200\n", w.Server.Last(), time.Now().UTC().Format("02/Jan/2006:15:04:05 +0000"))
}

func newTunnel(s *testns.Session, ns *testns.NS, logger *slog.Logger, cfg transparent.Config) *transparent.Tunnel {
	tun, err := transparent.New(cfg, transparent.WithNetNS(ns.Path), transparent.WithLogger(logger))
	check(s, "new tunnel "+cfg.Name, err)
	s.Cleanup(func() {
		tun.Down(context.Background())
		tun.Close()
	})
	return tun
}

func mustKey(s *testns.Session) wgtypes.Key {
	k, err := wgtypes.GeneratePrivateKey()
	check(s, "generate key", err)
	return k
}

func check(s *testns.Session, what string, err error) {
	if err != nil {
		s.Fatalf("demo: %s: %v", what, err)
	}
}
