package wgquick

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestMain keeps the tests off the network: Endpoint host names resolve
// through a fixed table.
func TestMain(m *testing.M) {
	lookupNetIP = fakeLookup
	os.Exit(m.Run())
}

var errNoSuchHost = errors.New("no such host")

func fakeLookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch host {
	case "app.example.com":
		return []netip.Addr{netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("2001:db8:b::2")}, nil
	case "mapped.example.com":
		return []netip.Addr{netip.MustParseAddr("::ffff:198.51.100.1")}, nil
	}
	return nil, errNoSuchHost
}

var (
	pfx = netip.MustParsePrefix
	ap  = netip.MustParseAddrPort
)

// The article's keys.
const (
	articleKeyA   = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE="
	articleKeyB   = "ABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBFA="
	articlePubA   = "/TOE4TKtAqVsePRVR+5AA43HkAK5DSntkOCO7nYq5xU="
	articlePubB   = "fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds="
	testdataFiles = "testdata/*.conf"
)

func mustKey(t testing.TB, s string) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey(%q): %v", s, err)
	}
	return k
}

// testKey returns a fixed private key.
func testKey(b byte) wgtypes.Key {
	var k wgtypes.Key
	for i := range k {
		k[i] = b
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k
}

// testdata returns the article's files by name, such as "article-a".
func testdata(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(testdataFiles)
	if err != nil || len(names) < 6 {
		t.Fatalf("testdata: %v %v", names, err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(n), ".conf")] = data
	}
	return out
}

// mustParse parses a file named wg0.conf.
func mustParse(t testing.TB, data []byte) *File {
	t.Helper()
	f, err := Parse("wg0.conf", data)
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror: %v", data, err)
	}
	return f
}

// directives returns a file's "[Section] Key = value" lines, without
// comments, blank lines and layout.
func directives(data []byte) []string {
	var out []string
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "["):
			section = line
			out = append(out, section)
		default:
			k, v, _ := strings.Cut(line, "=")
			out = append(out, section+" "+strings.TrimSpace(k)+" = "+strings.Join(strings.Fields(v), " "))
		}
	}
	return out
}

// sameFile compares everything of two Files but the notes.
func sameFile(a, b *File) bool {
	x, y := *a, *b
	x.Notes, y.Notes = nil, nil
	return reflect.DeepEqual(x, y)
}

// roundTrip checks that Parse of Render and of RenderNative gives f back.
func roundTrip(t *testing.T, f *File) {
	t.Helper()
	if gaps := Unrenderable(f); len(gaps) > 0 {
		t.Errorf("Unrenderable = %q, want none", gaps)
	}
	sameParse(t, f)
}

// sameParse checks that Parse of Render and of RenderNative give f back,
// its Endpoint names not looked up (Parse does no lookup).
func sameParse(t *testing.T, f *File) {
	t.Helper()
	want := *f
	want.Config.Peers = slices.Clone(f.Config.Peers)
	for i, host := range f.EndpointNames {
		if host != "" {
			want.Config.Peers[i].Endpoint = netip.AddrPort{}
		}
	}
	for name, render := range map[string]func(*File) []byte{"Render": Render, "RenderNative": RenderNative} {
		out := render(f)
		g, err := Parse("wg0.conf", out)
		if err != nil {
			t.Errorf("Parse(%s(f)): %v\n%s", name, err, out)
			continue
		}
		if !sameFile(renderedAs(name, &want), g) {
			t.Errorf("Parse(%s(f)) differs:\n got %v %+v\nwant %v %+v\nfile:\n%s", name, g.Config, *g, want.Config, want, out)
		}
	}
}

// renderedAs is f as render (by name) writes it: Render writes Table and
// Priority auto as the values they choose first.
func renderedAs(name string, f *File) *File {
	if name != "Render" {
		return f
	}
	g := *f
	g.Config = plainLayout(g.Config)
	return &g
}

// config is the article's A with PeerRoute rule, as built in code.
func articleConfig(t testing.TB) transparent.Config {
	return transparent.Config{
		Name:       "wg0",
		PrivateKey: mustKey(t, articleKeyA),
		ListenPort: 51821,
		Addresses:  []netip.Prefix{pfx("10.0.0.1/32")},
		Table:      123,
		Priority:   455,
		Peers: []transparent.Peer{{
			PublicKey:   mustKey(t, articlePubB),
			Endpoint:    ap("203.0.113.2:51822"),
			AllowedIPs:  []netip.Prefix{pfx("10.0.0.2/32")},
			Transparent: []netip.Prefix{pfx("203.0.113.2/32")},
		}},
	}
}
