package wgquick

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

func TestArticleKeys(t *testing.T) {
	a, b := mustKey(t, articleKeyA), mustKey(t, articleKeyB)
	if got := a.PublicKey().String(); got != articlePubA {
		t.Errorf("public key of A's private key = %s, want B's [Peer] key %s", got, articlePubA)
	}
	if got := b.PublicKey().String(); got != articlePubB {
		t.Errorf("public key of B's private key = %s, want A's [Peer] key %s", got, articlePubB)
	}
}

// TestRenderReproducesArticle: Parse of the article's final files, then
// Render, gives the same directives, in the same order, with the same
// values; so do the SNAT and rule variants. The main variant differs only
// in writing the article's "dev wg0" as wg-quick's "dev %i".
func TestRenderReproducesArticle(t *testing.T) {
	files := testdata(t)
	for _, name := range []string{"article-a", "article-b", "article-a-rule", "article-a-snat", "article-b-snat", "article-a-main"} {
		t.Run(name, func(t *testing.T) {
			want := directives(files[name])
			if name == "article-a-main" {
				i := slices.Index(want, "[Interface] PostUp = ip route add 10.0.0.2 dev wg0")
				if i < 0 {
					t.Fatalf("the main variant has no route line: %q", want)
				}
				want[i] = "[Interface] PostUp = ip route add 10.0.0.2 dev %i"
			}
			got := directives(Render(mustParse(t, files[name])))
			if !slices.Equal(got, want) {
				t.Errorf("directives of Render(Parse(%s)):\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// codeFiles are tunnels built in code: what the article's files do not
// cover.
func codeFiles(t testing.TB) map[string]*File {
	keyA, keyB := mustKey(t, articleKeyA), mustKey(t, articleKeyB)
	pubA := keyA.PublicKey()
	psk := testKey(9)
	out := map[string]*File{}

	v6 := articleConfig(t)
	v6.Addresses = []netip.Prefix{pfx("fd00::1/128")}
	v6.Peers[0].Endpoint = ap("[2001:db8:b::2]:51822")
	v6.Peers[0].AllowedIPs = []netip.Prefix{pfx("fd00::2/128")}
	v6.Peers[0].Transparent = []netip.Prefix{pfx("2001:db8:b::2/128")}
	out["ipv6"] = &File{Config: v6}

	dual := articleConfig(t)
	dual.PeerRoute = transparent.PeerRouteMain
	dual.MTU = 1380
	dual.Addresses = append(dual.Addresses, pfx("fd00::1/128"))
	dual.Peers[0].AllowedIPs = append(dual.Peers[0].AllowedIPs, pfx("fd00::2/128"))
	dual.Peers[0].Transparent = append(dual.Peers[0].Transparent, pfx("2001:db8:b::/64"))
	dual.SNAT = transparent.SNATOutbound
	dual.PublicAddresses = []netip.Addr{netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("198.51.100.1")}
	out["dual-stack-snat"] = &File{Config: dual}

	fw := articleConfig(t)
	fw.Exception = transparent.ExceptionFwMark
	fw.FwMark = 0x1234
	fw.Priority = 1000
	fw.Table = 4242
	fw.Addresses = []netip.Prefix{pfx("10.0.0.1/24"), pfx("fd00::1/64")}
	fw.PeerRoute = transparent.PeerRoutePrefix
	fw.Peers[0].AllowedIPs = append(fw.Peers[0].AllowedIPs, pfx("fd00::2/128"))
	fw.Peers[0].Endpoint = netip.AddrPort{}
	fw.Peers[0].ExpectedEndpoint = ap("203.0.113.2:51822")
	out["fwmark"] = &File{Config: fw}
	// In fwmark mode the exception rule names no endpoint, so plain
	// wg-quick cannot carry ExpectedEndpoint; without it, it can.
	fwPlain := fw
	fwPlain.Peers = slices.Clone(fw.Peers)
	fwPlain.Peers[0].ExpectedEndpoint = netip.AddrPort{}
	fwPlain.Peers[0].Endpoint = ap("203.0.113.2:51822")
	out["fwmark-endpoint"] = &File{Config: fwPlain}

	ka := articleConfig(t)
	ka.ListenPort = 0
	ka.Peers[0].PresharedKey = psk
	ka.Peers[0].PersistentKeepalive = 25 * time.Second
	out["keepalive-psk"] = &File{Config: ka,
		DNS:        []string{"10.0.0.2", "example.internal"},
		SaveConfig: true,
		PreUp:      []string{"echo up %i"},
		PostUp:     []string{"ip route add 192.0.2.0/24 dev %i table 77"},
		PreDown:    []string{"echo down"},
		PostDown:   []string{"ip rule del to 203.0.113.2 table 123 priority 456"}, // an undo without its add stays
	}

	many := articleConfig(t)
	many.Addresses = []netip.Prefix{pfx("10.0.0.1/32")}
	many.Priority = 2000
	many.Peers = []transparent.Peer{
		many.Peers[0],
		{
			PublicKey:   testKey(3).PublicKey(),
			Endpoint:    ap("192.0.2.7:51820"),
			AllowedIPs:  []netip.Prefix{pfx("10.0.0.3/32"), pfx("10.1.0.0/16")},
			Transparent: []netip.Prefix{pfx("192.0.2.0/28")},
		},
		{ // learns its endpoint: ExpectedEndpoint is its Transparent address
			PublicKey:        testKey(4).PublicKey(),
			ExpectedEndpoint: ap("198.51.100.9:40000"),
			AllowedIPs:       []netip.Prefix{pfx("10.0.0.4/32")},
			Transparent:      []netip.Prefix{pfx("198.51.100.9/32")},
		},
		{ // no endpoint at all, not transparent
			PublicKey:  testKey(5).PublicKey(),
			AllowedIPs: []netip.Prefix{pfx("10.0.0.5/32")},
		},
	}
	out["several-peers"] = &File{Config: many}

	in := transparent.Config{
		Name: "wg0", PrivateKey: keyB, ListenPort: 51822, Table: 123, Priority: 455,
		Addresses: []netip.Prefix{pfx("10.0.0.2/32"), pfx("fd00::2/128")},
		SNAT:      transparent.SNATInbound,
		PublicAddresses: []netip.Addr{
			netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("2001:db8:b::2"),
		},
		Peers: []transparent.Peer{{
			PublicKey:        pubA,
			ExpectedEndpoint: ap("198.51.100.1:51821"),
			AllowedIPs:       []netip.Prefix{pfx("10.0.0.1/32"), pfx("fd00::1/128")},
			Transparent:      []netip.Prefix{pfx("198.51.100.1/32"), pfx("2001:db8:a::1/128")},
		}},
	}
	out["inbound-dual-stack"] = &File{Config: in}
	out["fallback-block"] = blockFile(t)
	return out
}

func TestCodeConfigsAreValid(t *testing.T) {
	for name, f := range codeFiles(t) {
		if err := f.Config.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for name, data := range testdata(t) {
		t.Run(name, func(t *testing.T) { roundTrip(t, mustParse(t, data)) })
	}
	for name, f := range codeFiles(t) {
		if name == "fwmark" {
			continue // see TestUnrenderable
		}
		t.Run(name, func(t *testing.T) { roundTrip(t, f) })
	}
}

// TestUnrenderable: what plain wg-quick cannot carry is listed, written
// as a comment by Render, and kept by RenderNative.
func TestUnrenderable(t *testing.T) {
	fw := codeFiles(t)["fwmark"]
	noPublic := &File{Config: articleConfig(t)}
	noPublic.Config.SNAT = transparent.SNATOutbound
	noRules := &File{Config: articleConfig(t)}
	noRules.Config.Peers[0].Transparent = nil
	noRules.Config.Peers[0].Endpoint = netip.AddrPort{}
	noRules.Config.PeerRoute = transparent.PeerRouteMain
	noRules.Config.Priority = 600
	noRules.Config.Peers[0].AllowedIPs = nil
	for name, tc := range map[string]struct {
		f    *File
		want []string
	}{
		"ExpectedEndpoint in fwmark mode": {fw, []string{"ExpectedEndpoint 203.0.113.2:51822 of [Peer] 1"}},
		"SNAT without PublicAddress":      {noPublic, []string{"SNAT outbound without a public IPv4 address", "SNAT outbound: no SNAT rule"}},
		"nothing carries Priority":        {noRules, []string{"Priority 600", "PeerRoute main"}},
	} {
		t.Run(name, func(t *testing.T) {
			gaps := Unrenderable(tc.f)
			if len(gaps) != len(tc.want) {
				t.Fatalf("Unrenderable = %q, want %d gaps like %q", gaps, len(tc.want), tc.want)
			}
			plain := string(Render(tc.f))
			for i, w := range tc.want {
				if !strings.HasPrefix(gaps[i], w) {
					t.Errorf("gap %d = %q, want it to start with %q", i, gaps[i], w)
				}
				if !strings.Contains(plain, "# not expressible in plain wg-quick: "+gaps[i]) {
					t.Errorf("Render does not note %q:\n%s", gaps[i], plain)
				}
			}
			if err := tc.f.Config.Validate(); err == nil {
				g, err := Parse("wg0.conf", RenderNative(tc.f))
				if err != nil || !sameFile(tc.f, g) {
					t.Errorf("RenderNative does not round-trip: %v", err)
				}
			}
		})
	}
}

// TestRenderGolden compares both renderings of every test file with
// testdata/golden; go test -update rewrites them.
func TestRenderGolden(t *testing.T) {
	files := map[string]*File{}
	for name, data := range testdata(t) {
		files[name] = mustParse(t, data)
	}
	for name, f := range codeFiles(t) {
		files[name] = f
	}
	for name, f := range files {
		for suffix, render := range map[string]func(*File) []byte{".plain.conf": Render, ".native.conf": RenderNative} {
			path := filepath.Join("testdata", "golden", name+suffix)
			got := render(f)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go test -update to create it)", err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", name+suffix, path, got)
			}
		}
	}
}

// TestRenderHidesNothingElse: the private and preshared keys are written
// (they are the file's purpose), and Render never writes the interface
// name, which comes from the file name.
func TestRenderWritesKeys(t *testing.T) {
	f := codeFiles(t)["keepalive-psk"]
	out := string(Render(f))
	for _, k := range []wgtypes.Key{f.Config.PrivateKey, f.Config.Peers[0].PresharedKey} {
		if !strings.Contains(out, k.String()) {
			t.Errorf("Render lacks a key:\n%s", out)
		}
	}
	if strings.Contains(out, "wg0") {
		t.Errorf("Render writes the interface name:\n%s", out)
	}
}

// TestRulesTable: a file's `Rules = table` key is read and written back
// by RenderNative; Render writes the table's two rules per family instead
// of a rule per destination and no peer rules, and reading that file back
// gives RulesTable again, with the same rules and routes.
func TestRulesTable(t *testing.T) {
	c := articleConfig(t)
	c.Rules = transparent.RulesTable
	f := &File{Config: c}
	native, err := Parse("wg0.conf", RenderNative(f))
	if err != nil {
		t.Fatal(err)
	}
	if !sameFile(f, native) {
		t.Errorf("RenderNative round trip: got %+v, want %+v", native.Config, c)
	}
	plain := string(Render(f))
	for _, want := range []string{
		"PreUp = ip rule add to 0.0.0.0/1 table 123 priority 456",
		"PreUp = ip rule add to 128.0.0.0/1 table 123 priority 456",
		"# not expressible in plain wg-quick: Rules table: which of a peer's AllowedIPs are Transparent",
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("Render lacks %q:\n%s", want, plain)
		}
	}
	if strings.Contains(plain, "rule add to 203.0.113.2 table 123") || strings.Contains(plain, "priority 457") {
		t.Errorf("Render still writes a per-destination or peer rule:\n%s", plain)
	}
	back, err := Parse("wg0.conf", []byte(plain))
	if err != nil {
		t.Fatalf("Parse(Render): %v\n%s", err, plain)
	}
	if back.Config.Rules != transparent.RulesTable {
		t.Errorf("Parse(Render) Rules = %s, want table", back.Config.Rules)
	}
}
