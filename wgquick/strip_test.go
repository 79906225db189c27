package wgquick

import (
	"testing"
)

// TestStrip: strip writes what `wg setconf` takes: the device's keys, its
// port and mark, and each peer with the AllowedIPs the device gets (the
// tunnel's and the Transparent prefixes), an Endpoint name as written,
// and nothing only wg-quick or the library knows.
func TestStrip(t *testing.T) {
	f := mustParse(t, []byte(`[Interface]
PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = 10.0.0.1/32
ListenPort = 51821
Exception = fwmark
DNS = 10.0.0.53
PostUp = logger up

[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = vpn.example.com:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32
PersistentKeepalive = 25
`))
	want := `[Interface]
PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
ListenPort = 51821
FwMark = 0xca6c

[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = vpn.example.com:51822
AllowedIPs = 10.0.0.2/32, 203.0.113.2/32
PersistentKeepalive = 25
`
	if got := string(Strip(f)); got != want {
		t.Errorf("Strip:\n%s\nwant:\n%s", got, want)
	}
}
