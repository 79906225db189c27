package transparent

import (
	"strings"
	"testing"
	"time"
)

// TestConfigString: the summary names what matters and never a secret.
func TestConfigString(t *testing.T) {
	c := articleA(PeerRouteRule)
	c.Peers[0].PresharedKey = testKey(9)
	c.Peers[0].PersistentKeepalive = 25 * time.Second
	s := c.String()
	for _, secret := range []string{c.PrivateKey.String(), c.Peers[0].PresharedKey.String()} {
		if strings.Contains(s, secret) {
			t.Fatalf("a secret key appears in %q", s)
		}
	}
	for _, want := range []string{c.Name + ": public key " + c.PrivateKey.PublicKey().String(), "address 10.0.0.1/32", "table 123", "priority 455",
		"peer route rule", "exception port", "SNAT off", "1 peer: " + c.Peers[0].PublicKey.String()[:8] + "… endpoint 203.0.113.2:51822",
		"1 allowed IP, 1 transparent prefix, preshared key, keepalive 25s"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, want it to contain %q", s, want)
		}
	}
	if strings.Contains(s, "{") || strings.Contains(s, "0x") {
		t.Errorf("String() = %q looks like a struct dump", s)
	}
}
