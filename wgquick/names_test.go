package wgquick

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
)

// namedFile is the article's A with B's public address and a host name
// in Transparent.
const namedFile = `[Interface]
PrivateKey = ` + articleKeyA + `
Address = 10.0.0.1/32
ListenPort = 51821

[Peer]
PublicKey = ` + articlePubB + `
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32, app.example.com, API.example.com.
`

// TestTransparentNames: a host name among Transparent's prefixes becomes
// one of TransparentNames; RenderNative writes it back as a name; Render
// writes the addresses of ResolvedNames (resolved when it runs) with their
// rules and a comment, or the comment alone when there are none.
func TestTransparentNames(t *testing.T) {
	f, err := Parse("wg0.conf", []byte(namedFile))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Config.Peers[0]
	if !slices.Equal(p.Transparent, []netip.Prefix{pfx("203.0.113.2/32")}) || !slices.Equal(p.TransparentNames, []string{"app.example.com", "API.example.com."}) {
		t.Fatalf("Parse: Transparent %v, TransparentNames %q", p.Transparent, p.TransparentNames)
	}
	native := string(RenderNative(f))
	if !strings.Contains(native, "Transparent = 203.0.113.2/32, app.example.com, API.example.com.\n") {
		t.Errorf("RenderNative:\n%s", native)
	}
	if g, err := Parse("wg0.conf", []byte(native)); err != nil || !sameFile(f, g) {
		t.Errorf("Parse(RenderNative) = %+v, %v", g, err)
	}

	plain := string(Render(f))
	for _, want := range []string{
		"# not expressible in plain wg-quick: Transparent name app.example.com of [Peer] 1: not resolved when rendered",
		"AllowedIPs = 10.0.0.2/32, 203.0.113.2/32\n",
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("Render without ResolvedNames lacks %q:\n%s", want, plain)
		}
	}

	f.ResolvedNames = map[string][]netip.Addr{"api.example.com": {netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("2001:db8::7")}}
	plain = string(Render(f))
	for _, want := range []string{
		"# not expressible in plain wg-quick: Transparent name API.example.com. of [Peer] 1: written as its addresses when rendered (198.18.0.7), which do not follow its later answers",
		"PreUp = ip rule add to 198.18.0.7 table 123 priority 456",
		"PostDown = ip rule del to 198.18.0.7 table 123 priority 456",
		"AllowedIPs = 10.0.0.2/32, 203.0.113.2/32, 198.18.0.7/32\n",
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("Render with ResolvedNames lacks %q:\n%s", want, plain)
		}
	}
	if strings.Contains(plain, "2001:db8::7") {
		t.Errorf("Render routes an IPv6 address without an IPv6 tunnel address:\n%s", plain)
	}
	if _, err := Parse("wg0.conf", []byte(plain)); err != nil {
		t.Errorf("Parse(Render): %v", err)
	}
}

// TestTransparentNameErrors: a bad name is a ParseError at its line,
// naming the key, from Validate's field error.
func TestTransparentNameErrors(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"app_1.example.com", "character '_'"},
		{"app", "single label"},
		{"app.example.com, APP.example.com", "already listed"},
	} {
		_, err := Parse("wg0.conf", []byte(strings.Replace(namedFile, "203.0.113.2/32, app.example.com, API.example.com.", tc.value, 1)))
		var pe *ParseError
		var fe *transparent.FieldError
		if !errors.As(err, &pe) || pe.Line != 10 || pe.Key != "Transparent" || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &fe) {
			t.Errorf("Transparent = %s: %v, want an error at line 10, Transparent, saying %q", tc.value, err, tc.want)
		}
	}
}

// TestResolveNames fills ResolvedNames through the resolver; a name that
// does not resolve is reported, the others are set.
func TestResolveNames(t *testing.T) {
	f, err := Parse("wg0.conf", []byte(namedFile))
	if err != nil {
		t.Fatal(err)
	}
	err = f.ResolveNames(context.Background())
	if !errors.Is(err, errNoSuchHost) || !strings.Contains(err.Error(), "API.example.com.") {
		t.Errorf("ResolveNames = %v, want the unknown name reported", err)
	}
	want := []netip.Addr{netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("2001:db8:b::2")}
	if got := f.ResolvedNames["app.example.com"]; !slices.Equal(got, want) || len(f.ResolvedNames) != 1 {
		t.Errorf("ResolvedNames = %v", f.ResolvedNames)
	}
}
