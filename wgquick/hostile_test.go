package wgquick

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFileRefuses: ReadFile refuses what is not a regular file, at
// once (a FIFO without a writer must not hang it), and files over
// MaxFileSize, each as a *ParseError that names the file; a real file
// reads.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, []byte(interfaceA+peerB), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileSize+1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	good := filepath.Join(dir, "wg7.conf")
	if err := os.WriteFile(good, []byte(interfaceA+peerB), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo:        "fifo.conf: file: is a FIFO, not a regular file",
		"/dev/zero": "zero: file: is a character device, not a regular file",
		dir:         "file: is a directory, not a regular file",
		big:         "big.conf: file: 1048577 bytes or more, over the limit of 1048576 (MaxFileSize)",
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(path); done <- err }()
		select {
		case err := <-done:
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Errorf("ReadFile(%s) = %v, want a *ParseError with %q", path, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadFile(%s) hangs", path)
		}
	}
	f, err := ReadFile(good)
	if err != nil || f.Config.Name != "wg7" {
		t.Errorf("ReadFile(%s) = %v, %v; want the interface wg7", good, f, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file = %v, want os.ErrNotExist", err)
	}
}

// TestSecretsNeverInMessages: however a file mangles a private or
// preshared key, on whatever line, neither errors (with their causes) nor
// notes show it.
func TestSecretsNeverInMessages(t *testing.T) {
	const secret = "QJhbA0fOqk1Zr8S6hYcVBpbZyVgQzBnJdYbmgtR4a3w=" // key-shaped
	const odd = "not-base64-but-secret-text"                      // a malformed key value
	peerPSK := strings.Replace(peerB, "AllowedIPs", "PresharedKey = "+secret+"\nAllowedIPs", 1)
	for name, file := range map[string]string{
		"no equals sign":        strings.Replace(interfaceA, "PrivateKey = ", "PrivateKey ", 1) + peerB,
		"colon":                 strings.Replace(interfaceA, "PrivateKey = ", "PrivateKey: ", 1) + peerB,
		"odd value, no equals":  interfaceA + "PrivateKey " + odd + "\n" + peerB,
		"odd value, twice":      interfaceA + "PrivateKey = " + odd + "\n" + peerB,
		"key as Address":        interfaceA + "Address = " + secret + "\n" + peerB,
		"key as its own line":   interfaceA + secret + "\n" + peerB,
		"key as a section":      interfaceA + "[" + secret + "]\n" + peerB,
		"key as an unknown key": interfaceA + secret + " = 1\n" + peerB,
		"psk without equals":    interfaceA + strings.Replace(peerPSK, "PresharedKey = ", "PresharedKey ", 1),
		"psk in [Interface]":    interfaceA + "PresharedKey = " + secret + "\n" + peerB,
		"psk as Endpoint":       interfaceA + strings.Replace(peerB, "203.0.113.2:51822", secret, 1),
		"psk as keepalive":      interfaceA + peerB + "PersistentKeepalive = " + secret + "\n",
	} {
		_, err := Parse("wg0.conf", []byte(file))
		if err == nil {
			t.Errorf("%s: Parse accepted\n%s", name, file)
			continue
		}
		for _, text := range errorTexts(err) {
			for _, s := range []string{secret, odd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE="} {
				if strings.Contains(text, s[:20]) { // any good part of it
					t.Errorf("%s: a secret shows in %q", name, text)
				}
			}
		}
	}
	// Notes of a valid file: a hook that carries a key is shown without it,
	// the peer's public key stays.
	f := mustParse(t, []byte(interfaceA+"PostUp = wg set %i peer "+articlePubB+" preshared-key <(echo "+secret+")\n"+peerPSK))
	notes := strings.Join(f.Notes, "\n")
	if strings.Contains(notes, secret[:20]) || !strings.Contains(notes, articlePubB) || !strings.Contains(notes, "(hidden)") {
		t.Errorf("notes:\n%s\nwant the public key, not the preshared key", notes)
	}
}

// errorTexts returns the text of err and of every error it wraps.
func errorTexts(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, errorTexts(e)...)
		}
	case interface{ Unwrap() error }:
		out = append(out, errorTexts(u.Unwrap())...)
	}
	return out
}

// TestControlCharactersEscaped: control characters of a file (a terminal
// escape, a carriage return, invalid UTF-8) reach errors and notes
// escaped.
func TestControlCharactersEscaped(t *testing.T) {
	for _, bad := range []string{"\x1b[2J", "\r", "\xff", "\x00", "\u202e"} {
		for name, file := range map[string]string{
			"unknown key":     interfaceA + "Fo" + bad + "o = 1\n" + peerB,
			"unknown section": interfaceA + "[P" + bad + "]\n" + peerB,
			"value":           interfaceA + "PeerRoute = r" + bad + "ule\n" + peerB,
			"no equals sign":  interfaceA + "Fo" + bad + "o\n" + peerB,
			"file name":       interfaceA + "Foo = 1\n" + peerB,
		} {
			fname := "wg0.conf"
			if name == "file name" {
				fname = "w" + bad + ".conf"
			}
			_, err := Parse(fname, []byte(file))
			if err == nil {
				t.Errorf("%s %q: Parse accepted", name, bad)
				continue
			}
			if msg := err.Error(); strings.Contains(msg, bad) || !strings.Contains(msg, `\`) {
				t.Errorf("%s %q: message %q shows it unescaped", name, bad, msg)
			}
		}
		f := mustParse(t, []byte(interfaceA+"PostUp = echo "+bad+"\n"+peerB))
		if notes := strings.Join(f.Notes, "\n"); strings.Contains(notes, bad) {
			t.Errorf("note %q shows %q unescaped", notes, bad)
		}
	}
}

// TestEndpointNamesKept: parsing is pure (issue 21): an Endpoint host
// name is kept, not looked up, so that down, render, import and plan work
// with DNS gone; it survives Render and RenderNative, and Resolve looks it
// up, with the Lookup given (the tunnel namespace's resolver), or again.
func TestEndpointNamesKept(t *testing.T) {
	defer func(old func(context.Context, string, string) ([]netip.Addr, error)) { lookupNetIP = old }(lookupNetIP)
	lookupNetIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		t.Errorf("looked %s up while parsing or rendering", host)
		return nil, errNoSuchHost
	}
	f := mustParse(t, []byte(interfaceA+strings.Replace(peerB, "203.0.113.2:51822", "app.example.com:51822", 1)))
	if got := f.Config.Peers[0].Endpoint; got.IsValid() || len(f.EndpointNames) != 1 || f.EndpointNames[0] != "app.example.com" || f.EndpointPorts[0] != 51822 || !slices.Equal(f.Unresolved(), []int{0}) {
		t.Fatalf("Endpoint %s, names %q, ports %v", got, f.EndpointNames, f.EndpointPorts)
	}
	// Down and show need a Config that validates: the stand-in is a
	// documentation address outside the tunnel's, with the file's port.
	c, standIns := f.StandInConfig()
	if ep := standIns[0]; !ep.IsValid() || ep.Port() != 51822 || c.Peers[0].Endpoint != ep || c.Validate() != nil || f.Config.Peers[0].Endpoint.IsValid() {
		t.Errorf("StandInConfig: %v, %v (the File's Endpoint %v must stay unset)", standIns, c.Validate(), f.Config.Peers[0].Endpoint)
	}
	for name, out := range map[string][]byte{"Render": Render(f), "RenderNative": RenderNative(f)} {
		if !strings.Contains(string(out), "Endpoint = app.example.com:51822\n") {
			t.Errorf("%s lost the name:\n%s", name, out)
		}
	}
	if gaps := Unrenderable(f); !slices.ContainsFunc(gaps, func(g string) bool {
		return strings.Contains(g, "app.example.com:51822 of [Peer] 1: not resolved when rendered")
	}) {
		t.Errorf("Unrenderable does not say the exception rule is missing: %q", gaps)
	}
	sameParse(t, f)

	down := func(context.Context, string) ([]netip.Addr, error) { return nil, errNoSuchHost }
	if changed, err := f.Resolve(context.Background(), down); !errors.Is(err, errNoSuchHost) || !strings.Contains(fmt.Sprint(err), `cannot resolve "app.example.com"`) || len(changed) != 0 || f.Config.Peers[0].Endpoint.IsValid() {
		t.Errorf("Resolve with DNS down = %v, %v; Endpoint %s", changed, err, f.Config.Peers[0].Endpoint)
	}
	var asked []string
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		return []netip.Addr{netip.MustParseAddr("::ffff:203.0.113.9")}, nil
	}
	changed, err := f.Resolve(context.Background(), lookup)
	if err != nil || len(changed) != 1 || f.Config.Peers[0].Endpoint != ap("203.0.113.9:51822") || !slices.Equal(asked, []string{"app.example.com"}) {
		t.Errorf("Resolve = %v, %v; Endpoint %s, asked %q; want peer 0 at 203.0.113.9:51822 (unmapped)", changed, err, f.Config.Peers[0].Endpoint, asked)
	}
	if changed, err := f.Resolve(context.Background(), lookup); err != nil || len(changed) != 0 {
		t.Errorf("second Resolve = %v, %v, want nothing changed", changed, err)
	}
	if out := string(Render(f)); !strings.Contains(out, "Endpoint = app.example.com:51822\n") || !strings.Contains(out, "ip rule add to 203.0.113.9 dport 51822 table main") {
		t.Errorf("Render after Resolve: want the name and the exception rule to its address:\n%s", out)
	}
	roundTrip(t, f)
}

// TestEndpointNameExceptionHook: the article's exception rule hook, to
// the address a peer's Endpoint name had when the file was written, is
// that peer's exception rule, found by its port without a lookup.
func TestEndpointNameExceptionHook(t *testing.T) {
	file := interfaceA + "PreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455\nPostDown = ip rule del to 203.0.113.2 dport 51822 table main priority 455\n" +
		strings.Replace(peerB, "203.0.113.2:51822", "nowhere.example:51822", 1)
	f := mustParse(t, []byte(file))
	if p := f.Config.Peers[0]; p.Endpoint.IsValid() || p.ExpectedEndpoint.IsValid() || len(f.PreUp)+len(f.PostDown) != 0 || f.Config.Priority != 455 {
		t.Errorf("peer %v, kept hooks %q %q, Priority %d: want the hooks recognized as the named peer's exception rule", p, f.PreUp, f.PostDown, f.Config.Priority)
	}
}
