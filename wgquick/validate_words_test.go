package wgquick

import (
	"strings"
	"testing"
)

// TestMessagesInFileWords: Validate's problems and fixes reach a file's
// user in the file's words (`PeerRoute = rule`, `wg genkey`), never as
// the library's Go names (PeerRouteRule, wgtypes.GeneratePrivateKey).
func TestMessagesInFileWords(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"[Interface]\nAddress = 10.0.0.1/32\nTable = 123\n\n[Peer]\nPublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=\nEndpoint = 203.0.113.2:51822\nAllowedIPs = 10.0.0.2/32\n",
			"`wg genkey`"},
		{"[Interface]\nPrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=\nAddress = 10.0.0.1/32\nTable = 123\nPeerRoute = main\n\n[Peer]\nPublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=\nEndpoint = 203.0.113.2:51822\nAllowedIPs = 0.0.0.0/0\n",
			"`PeerRoute = rule`"},
	} {
		_, err := Parse("wg0.conf", []byte(tc.file))
		if err == nil {
			t.Fatalf("%q parsed", tc.file)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s\nwant it to say %s", msg, tc.want)
		}
		for _, goName := range []string{"wgtypes.", "PeerRouteRule", "PeerRouteMain", "ExceptionFwMark", "TableAuto", "PriorityAuto"} {
			if strings.Contains(msg, goName) {
				t.Errorf("%s\nnames the library's %s", msg, goName)
			}
		}
	}
}
