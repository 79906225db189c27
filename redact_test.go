package transparent

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestKeysNeverPrinted formats a config every way a program might, and
// checks that neither secret key appears in any form.
func TestKeysNeverPrinted(t *testing.T) {
	c := articleA(PeerRouteRule)
	c.Peers[0].PresharedKey = testKey(9)
	secrets := []string{c.PrivateKey.String(), c.Peers[0].PresharedKey.String(), fmt.Sprint(c.PrivateKey[:]), fmt.Sprint([32]byte(c.PrivateKey))}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	logger.Info("config", "cfg", c, "peer", c.Peers[0])
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", c)
	c.Name = "" // make Validate fail, to check its errors too
	out := strings.Join([]string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c),
		fmt.Sprintf("%v %+v %#v", c.Peers[0], c.Peers[0], c.Peers[0]),
		fmt.Sprintf("%v %+v", &c, []Config{c}),
		logs.String(), c.Validate().Error(),
	}, "\n")
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("a secret key (%s) appears in:\n%s", s, out)
		}
	}
	if !strings.Contains(out, c.PrivateKey.PublicKey().String()) {
		t.Errorf("the public key, which is fine to show, is missing:\n%s", out)
	}
}
