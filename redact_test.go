package transparent

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
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

// TestPastedSecretHidden: a private key pasted as a peer's PublicKey, and
// a preshared key pasted as another's, are hidden wherever the library
// prints a key of the config: String, slog, and the plan's steps and
// commands, for a new device and for one whose private key the plan keeps
// (a Peer printed alone cannot know the private key: it shows its key's
// start, as for any peer).
func TestPastedSecretHidden(t *testing.T) {
	c := articleA(PeerRouteRule).WithDefaults()
	psk := testKey(9)
	c.Peers[0].PresharedKey = psk
	c.Peers = append(c.Peers,
		Peer{PublicKey: c.PrivateKey, AllowedIPs: []netip.Prefix{pfx("10.0.0.3/32")}},
		Peer{PublicKey: psk, AllowedIPs: []netip.Prefix{pfx("10.0.0.4/32")}})
	secrets := []string{c.PrivateKey.String(), psk.String(), c.PrivateKey.String()[:shortKeyLen], psk.String()[:shortKeyLen]}

	var out strings.Builder
	logger := slog.New(slog.NewTextHandler(&out, nil))
	logger.Info("config", "cfg", c)
	fmt.Fprintf(&out, "%v\n%+v\n%#v\n", c, c, c)
	k := newScenarioFake(false)
	log := slog.New(slog.DiscardHandler)
	for round, cfg := range []Config{c, withAllowed(c, 1, "10.0.0.5/32")} {
		o, err := observe(k, log, observation{cfg: cfg, owners: []Config{cfg}, forUp: true})
		if err != nil {
			t.Fatal(err)
		}
		steps, err := planUp(cfg, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			fmt.Fprintf(&out, "%d: %s | %s\n", round, s, s.command())
			if err := s.do(k); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(out.String(), s) {
			t.Fatalf("a secret key (%s) appears in:\n%s", s, out.String())
		}
	}
	if n := strings.Count(out.String(), "peer (hidden)"); n < 4 || !strings.Contains(out.String(), "1: set device wg0 peer (hidden)") {
		t.Errorf("%d peers printed as (hidden), want the pasted keys hidden in both plans' steps and commands:\n%s", n, out.String())
	}
	if got := c.RedactKey(c.PrivateKey); got != "(hidden)" {
		t.Errorf("RedactKey(the private key) = %q", got)
	}
	if pub := c.Peers[0].PublicKey; c.RedactKey(pub) != pub.String() {
		t.Errorf("RedactKey hides a public key")
	}
}

// withAllowed is c with prefix added to Peers[i].AllowedIPs.
func withAllowed(c Config, i int, prefix string) Config {
	c.Peers = slices.Clone(c.Peers)
	c.Peers[i].AllowedIPs = append(slices.Clip(c.Peers[i].AllowedIPs), pfx(prefix))
	return c
}
