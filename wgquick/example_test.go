package wgquick_test

import (
	"fmt"
	"log"

	"github.com/wgtransparent/transparent/wgquick"
)

// Importing the article's Endpoint A: its hooks become config fields, and
// RenderNative writes the file with the library's own keys.
func Example() {
	article := `[Interface]
PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = 10.0.0.1/30
ListenPort = 51821
Table = 123

PreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455
PostDown = ip rule del to 203.0.113.2 dport 51822 table main priority 455
PreUp = ip rule add to 203.0.113.2 table 123 priority 456
PostDown = ip rule del to 203.0.113.2 table 123 priority 456

[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32, 203.0.113.2/32
`
	f, err := wgquick.Parse("wg0.conf", []byte(article))
	if err != nil {
		log.Fatal(err)
	}
	c := f.Config
	fmt.Println(c.Name, c.Table, c.Priority, c.PeerRoute, c.Peers[0].AllowedIPs, c.Peers[0].Transparent)
	// Output: wg0 123 455 prefix [10.0.0.2/32] [203.0.113.2/32]
}
