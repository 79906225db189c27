package transparent_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

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
