package transparent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The article's Endpoint A: reach B's public address 203.0.113.2 through
// the tunnel while it is up, and over the Internet when it is down.
func Example() {
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		log.Fatal(err)
	}
	peerKey, err := wgtypes.ParseKey("fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=")
	if err != nil {
		log.Fatal(err)
	}
	cfg := transparent.Config{
		Name:       "wg0",
		PrivateKey: key,
		ListenPort: 51821,
		Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Table:      123,
		Priority:   455,
		PeerRoute:  transparent.PeerRouteRule,
		Peers: []transparent.Peer{{
			PublicKey:   peerKey,
			Endpoint:    netip.MustParseAddrPort("203.0.113.2:51822"),
			AllowedIPs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
			Transparent: []netip.Prefix{netip.MustParsePrefix("203.0.113.2/32")},
		}},
	}
	tun, err := transparent.New(cfg, transparent.WithNetNS("/run/netns/a"))
	if err != nil {
		log.Fatal(err)
	}
	defer tun.Close()

	ctx := context.Background()
	if err := tun.Up(ctx); err != nil { // safe to repeat
		log.Fatal(err)
	}
	// ... 203.0.113.2 is now reached through wg0 ...
	if err := tun.Down(ctx); err != nil {
		log.Fatal(err)
	}
}

// Validate reports every problem at once, each naming the field and the fix.
func ExampleConfig_Validate() {
	key, _ := wgtypes.ParseKey("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=")
	peerKey, _ := wgtypes.ParseKey("fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=")
	cfg := transparent.Config{
		Name:       "wg0",
		PrivateKey: key,
		Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Table:      254,
		PeerRoute:  transparent.PeerRoutePrefix,
		Peers: []transparent.Peer{{
			PublicKey:  peerKey,
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
		}},
	}
	fmt.Println(cfg.Validate())
	// Output:
	// config: Table: 254 is a reserved table (253 default, 254 main, 255 local); use an unused table such as 123, or 0 for that default
	// config: Peers[0].AllowedIPs[0]: 10.0.0.2/32 is not covered by any of Addresses, so PeerRoutePrefix gives it no route; widen Addresses[0] to 10.0.0.1/30, the smallest prefix that covers it, or use PeerRouteRule
}

// articleConfig is the article's Endpoint A, for the examples.
func articleConfig() transparent.Config {
	key, err := wgtypes.ParseKey("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=")
	if err != nil {
		log.Fatal(err)
	}
	peerKey, err := wgtypes.ParseKey("fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=")
	if err != nil {
		log.Fatal(err)
	}
	return transparent.Config{
		Name:       "wg0",
		PrivateKey: key,
		ListenPort: 51821,
		Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Peers: []transparent.Peer{{
			PublicKey:   peerKey,
			Endpoint:    netip.MustParseAddrPort("203.0.113.2:51822"),
			AllowedIPs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
			Transparent: []netip.Prefix{netip.MustParsePrefix("203.0.113.2/32")},
		}},
	}
}

// String summarizes a config without its secrets.
func ExampleConfig_String() {
	fmt.Println(articleConfig())
	// Output:
	// wg0: public key /TOE4TKtAqVsePRVR+5AA43HkAK5DSntkOCO7nYq5xU=, address 10.0.0.1/32, listen port 51821, MTU 1420, table 123, priority 455, peer route rule, exception port, SNAT off; 1 peer: fE/wdxzl… endpoint 203.0.113.2:51822, 1 allowed IP, 1 transparent prefix
}

// Plan shows what Up would do, with the equivalent commands, and changes
// nothing.
func ExampleTunnel_Plan() {
	tun, err := transparent.New(articleConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer tun.Close()
	plan, err := tun.Plan(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, ch := range plan {
		fmt.Println(ch) // such as "add     ip rule add to 203.0.113.2/32 lookup 123 priority 456 proto 87"
	}
}

// Check reports drift as a *DriftError (errors.Is ErrDrift) listing what
// Up would change.
func ExampleTunnel_Check() {
	tun, err := transparent.New(articleConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer tun.Close()
	err = tun.Check(context.Background())
	var drift *transparent.DriftError
	switch {
	case err == nil:
		fmt.Println("in sync")
	case errors.As(err, &drift):
		for _, ch := range drift.Changes {
			fmt.Println("up would:", ch)
		}
	default:
		log.Fatal(err)
	}
}

// Watch keeps the tunnel up until the context ends, re-applying the
// config whenever links, addresses, routes or rules change.
func ExampleTunnel_Watch() {
	tun, err := transparent.New(articleConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer tun.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := tun.Watch(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	if err := tun.Down(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// SetConfig replaces the config; the next Up applies it, removing what
// the old config made and the new one does not.
func ExampleTunnel_SetConfig() {
	cfg := articleConfig()
	tun, err := transparent.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		log.Fatal(err)
	}
	cfg.Peers[0].Transparent = append(cfg.Peers[0].Transparent, netip.MustParsePrefix("203.0.113.80/28"))
	if err := tun.SetConfig(cfg); err != nil { // validated; nothing changes yet
		log.Fatal(err)
	}
	if err := tun.Up(ctx); err != nil {
		log.Fatal(err)
	}
}
