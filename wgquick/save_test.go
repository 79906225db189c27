package wgquick

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestWithDevice: save writes the running device into the file as
// wg-quick's save does: a peer's roamed endpoint, its keepalive and an
// AllowedIPs entry added with `wg set`, a peer added at run time, a peer
// removed; the Transparent prefixes stay Transparent, and the rest of
// the file (Address, DNS, hooks, the library's keys) stays as it was.
func TestWithDevice(t *testing.T) {
	third, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	gone := third.PublicKey().String()
	f := mustParse(t, []byte(interfaceA+"DNS = 10.0.0.53\nPostUp = logger up\nSaveConfig = true\n"+peerB+"Transparent = 203.0.113.2/32\n"+`
[Peer]
PublicKey = `+gone+`
AllowedIPs = 10.0.0.3/32
`))
	fourth, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	added := fourth.PublicKey() // a peer the file lacks
	dev := &wgtypes.Device{
		PrivateKey: f.Config.PrivateKey,
		ListenPort: 51821,
		Peers: []wgtypes.Peer{
			{PublicKey: added, AllowedIPs: []net.IPNet{ipnet("10.0.0.9/32")}},
			{
				PublicKey:                   f.Config.Peers[0].PublicKey,
				Endpoint:                    &net.UDPAddr{IP: net.ParseIP("198.51.100.7"), Port: 40000},
				PersistentKeepaliveInterval: 25 * time.Second,
				AllowedIPs:                  []net.IPNet{ipnet("10.0.0.2/32"), ipnet("10.9.0.0/16"), ipnet("203.0.113.2/32")},
			},
		},
	}
	saved := f.WithDevice(dev)
	out := string(RenderNative(saved))
	for _, want := range []string{
		"Address = 10.0.0.1/32\n", "Table = 123\n", "DNS = 10.0.0.53\n", "PostUp = logger up\n", "SaveConfig = true\n",
		"Endpoint = 198.51.100.7:40000\nAllowedIPs = 10.0.0.2/32, 10.9.0.0/16\nTransparent = 203.0.113.2/32\nPersistentKeepalive = 25\n",
		"PublicKey = " + added.String() + "\nAllowedIPs = 10.0.0.9/32\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("saved file lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, gone) {
		t.Errorf("saved file keeps the peer the device no longer has:\n%s", out)
	}
	if strings.Index(out, f.Config.Peers[0].PublicKey.String()) > strings.Index(out, added.String()) {
		t.Errorf("the file's peer is no longer first:\n%s", out)
	}
	sameParse(t, saved)
}

func ipnet(s string) net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return *n
}
