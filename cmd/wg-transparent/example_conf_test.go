package main

import (
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
)

// exampleConf is the commented example file the repository ships.
const exampleConf = "../../examples/wg0.conf"

// The example's keys, the article's, which the test replaces.
const (
	examplePrivateKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE="
	examplePeerKey    = "fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds="
)

// TestExampleConf (issue 21, item 7): the shipped example, with fresh keys
// in place of the article's, brings Endpoint A up in the article's world:
// plan, up, check in sync, a request to B's public address arrives
// through the tunnel (B logs A's tunnel address), and down restores A's
// namespace.
func TestExampleConf(t *testing.T) {
	text, err := os.ReadFile(exampleConf)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{examplePrivateKey, examplePeerKey} {
		if strings.Count(string(text), key) != 1 {
			t.Fatalf("%s: the key %s appears %d times, want once", exampleConf, key, strings.Count(string(text), key))
		}
	}
	testns.RequireRoot(t)
	bin := commandBinary(t)
	w := testns.Article(t)
	keyA, keyB := genKey(t), genKey(t)
	endpointB(t, w, keyA, keyB)
	before, err := testns.DumpSettled(w.A)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgrlex")
	file := filepath.Join(t.TempDir(), name+".conf")
	conf := strings.NewReplacer(examplePrivateKey, keyA.String(), examplePeerKey, keyB.PublicKey().String()).Replace(string(text))
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := func(want int, verb string) string {
		t.Helper()
		code, out := exitCode(t, exec.Command(bin, verb, file, "--netns", w.A.Name))
		if code != want {
			t.Fatalf("%s of the example: exit %d, want %d\n%s", verb, code, want, out)
		}
		return out
	}
	if out := cmd(exitOK, "plan"); !strings.Contains(out, "ip rule add to 203.0.113.2/32 lookup 123 priority 456 proto 87") {
		t.Errorf("plan of the example:\n%s", out)
	}
	up, lines := startForeground(t, "is up", bin, "up", file, "--netns", w.A.Name)
	go io.Copy(io.Discard, lines)
	cmd(exitOK, "check")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := testns.Get(ctx, w.A, "http://203.0.113.2/"); err != nil || w.Server.Last() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("request to B's public address: %v, B logged %s, want 10.0.0.1 (through the tunnel)", err, w.Server.Last())
	}
	cmd(exitOK, "down")
	waitExit(t, up, "up after down")
	expectRestored(t, w.A, before, name, "after down")
}
