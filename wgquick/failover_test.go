package wgquick

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
)

// blockFile is the article's A, dual stack, with the kill switch: the
// plain file Render writes for it.
func blockFile(t testing.TB) *File {
	c := articleConfig(t)
	c.Addresses = append(c.Addresses, pfx("fd00::1/128"))
	c.Peers[0].AllowedIPs = append(c.Peers[0].AllowedIPs, pfx("fd00::2/128"))
	c.Peers[0].Transparent = append(c.Peers[0].Transparent, pfx("2001:db8:b::/64"))
	c.Peers[0].Fallback = transparent.FallbackBlock
	return &File{Config: c}
}

// TestFallbackKeys: Fallback in a [Peer] and the Health keys in
// [Interface] are read into the Config, whatever their case, and
// RenderNative writes them back.
func TestFallbackKeys(t *testing.T) {
	file := interfaceA + "HealthInterval = 250ms\nhealthfailafter = 6\nHealthRecoverAfter = 2\n" +
		strings.Replace(peerB, "AllowedIPs = 10.0.0.2/32", "AllowedIPs = 10.0.0.2/32\nTransparent = 203.0.113.2\nFallback = Internet", 1)
	f := mustParse(t, []byte(file))
	c := f.Config
	if c.Peers[0].Fallback != transparent.FallbackInternet {
		t.Errorf("Fallback = %s, want internet", c.Peers[0].Fallback)
	}
	if want := (transparent.HealthCheck{Interval: 250 * time.Millisecond, FailAfter: 6, RecoverAfter: 2}); c.Health != want {
		t.Errorf("Health = %+v, want %+v", c.Health, want)
	}
	native := string(RenderNative(f))
	for _, want := range []string{"HealthInterval = 250ms\n", "HealthFailAfter = 6\n", "HealthRecoverAfter = 2\n", "Fallback = internet\n"} {
		if !strings.Contains(native, want) {
			t.Errorf("RenderNative lacks %q:\n%s", want, native)
		}
	}
	if g, err := Parse("wg0.conf", []byte(native)); err != nil || !sameFile(f, g) {
		t.Errorf("RenderNative does not round-trip: %v\n%s", err, native)
	}
	// Whole seconds may be written as a number, as PersistentKeepalive is.
	g := mustParse(t, []byte(strings.Replace(file, "250ms", "2", 1)))
	if g.Config.Health.Interval != 2*time.Second {
		t.Errorf("HealthInterval = 2: %s, want 2s", g.Config.Health.Interval)
	}
}

// TestFallbackErrors: bad values, and what Validate refuses, are reported
// at the line of the key, with the fix.
func TestFallbackErrors(t *testing.T) {
	transparentB := strings.Replace(peerB, "AllowedIPs = 10.0.0.2/32", "AllowedIPs = 10.0.0.2/32\nTransparent = 203.0.113.2", 1)
	for _, tc := range []struct {
		name string
		file string
		line int
		key  string
		want string
	}{
		{"bad Fallback", interfaceA + transparentB + "Fallback = drop\n", 12, "Fallback", "use block, internet or none"},
		{"Fallback in [Interface]", interfaceA + "Fallback = block\n" + transparentB, 6, "Fallback", "move it"},
		{"nothing Transparent", interfaceA + peerB + "Fallback = block\n", 11, "Fallback", "nothing Transparent"},
		{"no tunnel address to probe", interfaceA + strings.Replace(transparentB, "AllowedIPs = 10.0.0.2/32", "AllowedIPs = 10.0.0.0/24", 1) + "Fallback = internet\n", 12, "Fallback", "tunnel address of the peer to probe"},
		{"zero FailAfter", interfaceA + "HealthFailAfter = 0\n" + transparentB + "Fallback = block\n", 6, "HealthFailAfter", "use 1 to 1000, or remove the line for 4"},
		{"negative RecoverAfter", interfaceA + "HealthRecoverAfter = -1\n" + transparentB + "Fallback = block\n", 6, "HealthRecoverAfter", "remove the line for 3"},
		{"bad HealthInterval", interfaceA + "HealthInterval = soon\n" + transparentB + "Fallback = block\n", 6, "HealthInterval", "such as 500ms"},
		{"zero HealthInterval", interfaceA + "HealthInterval = 0s\n" + transparentB + "Fallback = block\n", 6, "HealthInterval", "not a duration"},
		{"HealthInterval out of range", interfaceA + "HealthInterval = 10ms\n" + transparentB + "Fallback = block\n", 6, "HealthInterval", "out of range"},
		{"Health without a Fallback", interfaceA + "HealthFailAfter = 5\n" + transparentB, 6, "HealthFailAfter", "no peer has a Fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("wg0.conf", []byte(tc.file))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse: %v, want a ParseError", err)
			}
			if pe.Line != tc.line || pe.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v (line %d key %q), want line %d key %q with %q", err, pe.Line, pe.Key, tc.line, tc.key, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "wg0.conf:"+strconv.Itoa(tc.line)+": ") {
				t.Errorf("Parse: %v, want it to start with wg0.conf:%d:", err, tc.line)
			}
		})
	}
}

// TestFallbackBlockRender: Render writes the kill switch as a plain
// wg-quick host can keep it, an unreachable route per Transparent
// destination in Table at the library's block metric with its undo, says
// that failing over needs wg-transparent, and Parse of it gives Fallback
// block back (and so does RenderNative's file).
func TestFallbackBlockRender(t *testing.T) {
	f := blockFile(t)
	if err := f.Config.Validate(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, f)
	plain := string(Render(f))
	for _, want := range []string{
		"PreUp = ip route add unreachable 203.0.113.2 table 123 metric 4096\n",
		"PostDown = ip route del unreachable 203.0.113.2 table 123 metric 4096\n",
		"PreUp = ip -6 route add unreachable 2001:db8:b::/64 table 123 metric 4096\n",
		"PostDown = ip -6 route del unreachable 2001:db8:b::/64 table 123 metric 4096\n",
		"needs wg-transparent",
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("Render lacks %q:\n%s", want, plain)
		}
	}
	g := mustParse(t, []byte(plain))
	if !strings.Contains(strings.Join(g.Notes, "\n"), "-> Fallback block of [Peer] line") {
		t.Errorf("no note says the routes became Fallback block: %q", g.Notes)
	}
	// The library's own command (with its protocol) reads the same.
	lib := strings.Replace(plain, "table 123 metric 4096\n", "table 123 metric 4096 proto 87\n", -1)
	if h := mustParse(t, []byte(lib)); h.Config.Peers[0].Fallback != transparent.FallbackBlock || len(h.PreUp)+len(h.PostDown) != 0 {
		t.Errorf("with proto: Fallback %s, kept hooks %q %q", h.Config.Peers[0].Fallback, h.PreUp, h.PostDown)
	}
}

// TestFallbackBlockHookErrors: the kill switch's hooks that disagree with
// the file are reported at their line.
func TestFallbackBlockHookErrors(t *testing.T) {
	plain := string(Render(blockFile(t)))
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"not a Transparent destination", "add unreachable 203.0.113.2 table", "add unreachable 192.0.2.9 table", "192.0.2.9/32 is no peer's Transparent destination"},
		{"one destination without", "PreUp = ip -6 route add unreachable 2001:db8:b::/64 table 123 metric 4096\n", "", "has no unreachable route for its Transparent 2001:db8:b::/64"},
		{"the key says otherwise", "[Peer]\n", "[Peer]\nFallback = internet\n", "means Fallback block, but Fallback line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := strings.Replace(plain, tc.old, tc.new, 1)
			_, err := Parse("wg0.conf", []byte(file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want %q\n%s", err, tc.want, file)
			}
		})
	}
	// Another metric or table is someone else's route: kept as a command.
	file := strings.Replace(plain, "metric 4096", "metric 100", -1)
	f := mustParse(t, []byte(file))
	if f.Config.Peers[0].Fallback != transparent.FallbackNone || len(f.PreUp) != 2 {
		t.Errorf("metric 100: Fallback %s, kept %q", f.Config.Peers[0].Fallback, f.PreUp)
	}
}

// TestFallbackUnrenderable: failing over to the Internet and the health
// settings need wg-transparent: Render says so in a comment, and
// RenderNative keeps them.
func TestFallbackUnrenderable(t *testing.T) {
	f := blockFile(t)
	f.Config.Peers[0].Fallback = transparent.FallbackInternet
	f.Config.Health = transparent.HealthCheck{Interval: time.Second, FailAfter: 3}
	gaps := Unrenderable(f)
	want := []string{
		"Fallback internet of [Peer] 1: failover needs wg-transparent",
		"HealthInterval = 1s, HealthFailAfter = 3: failover needs wg-transparent",
	}
	if len(gaps) != len(want) {
		t.Fatalf("Unrenderable = %q, want %q", gaps, want)
	}
	plain := string(Render(f))
	for i, w := range want {
		if !strings.HasPrefix(gaps[i], w) || !strings.Contains(plain, "# not expressible in plain wg-quick: "+gaps[i]) {
			t.Errorf("gap %q, want %q written as a comment:\n%s", gaps[i], w, plain)
		}
	}
	if strings.Contains(plain, "unreachable") {
		t.Errorf("Render writes a kill switch for internet:\n%s", plain)
	}
	if g, err := Parse("wg0.conf", RenderNative(f)); err != nil || !sameFile(f, g) {
		t.Errorf("RenderNative does not round-trip: %v", err)
	}
}

// TestFallbackNamesRender: a block peer's names are written as the
// addresses resolved at render time, each with its unreachable route.
func TestFallbackNamesRender(t *testing.T) {
	c := articleConfig(t)
	c.Peers[0].Transparent = nil
	c.Peers[0].TransparentNames = []string{"app.example.com"}
	c.Peers[0].Fallback = transparent.FallbackBlock
	f := &File{Config: c, ResolvedNames: map[string][]netip.Addr{"app.example.com": {netip.MustParseAddr("203.0.113.2")}}}
	plain := string(Render(f))
	if !strings.Contains(plain, "PreUp = ip route add unreachable 203.0.113.2 table 123 metric 4096\n") {
		t.Errorf("Render lacks the name's kill switch:\n%s", plain)
	}
	if g := mustParse(t, []byte(plain)); g.Config.Peers[0].Fallback != transparent.FallbackBlock {
		t.Errorf("Parse(Render): Fallback %s, want block", g.Config.Peers[0].Fallback)
	}
}
