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

// Parse reads a file (here with an Endpoint host name, which is kept);
// Render writes it back as plain wg-quick, the library's work spelled
// out as hooks.
func ExampleRender() {
	file := `[Interface]
PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = 10.0.0.1/32
ListenPort = 51821

[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32
`
	f, err := wgquick.Parse("wg0.conf", []byte(file))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(wgquick.Render(f)))
	// Output:
	// [Interface]
	// PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
	// Address = 10.0.0.1/32
	// ListenPort = 51821
	// Table = 123
	//
	// PreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455
	// PostDown = ip rule del to 203.0.113.2 dport 51822 table main priority 455
	// PreUp = ip rule add to 203.0.113.2 table 123 priority 456
	// PostDown = ip rule del to 203.0.113.2 table 123 priority 456
	// PreUp = ip rule add to 10.0.0.2 table 123 priority 457
	// PostDown = ip rule del to 10.0.0.2 table 123 priority 457
	//
	// [Peer]
	// PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
	// Endpoint = 203.0.113.2:51822
	// AllowedIPs = 10.0.0.2/32, 203.0.113.2/32
}

// Parse reports every problem at once, each with its line and the fix,
// and never shows a key.
func ExampleParse() {
	file := `[Interface]
PrivateKey AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = 10.0.0.1/33
`
	_, err := wgquick.Parse("wg0.conf", []byte(file))
	fmt.Println(err)
	// Output:
	// wg0.conf:2: PrivateKey (hidden): not a Key = value line (a key has no spaces); write Key = value, or comment the line out with #
	// wg0.conf:3: Address: "10.0.0.1/33" is not an address prefix: netip.ParsePrefix("10.0.0.1/33"): prefix length out of range; write an address or an address/length, such as 10.0.0.2/32 or fd00::2/128
}
