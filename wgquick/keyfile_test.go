package wgquick

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPrivateKeyFile: the key may come from a file, named by
// PrivateKeyFile or by the hook `PostUp = wg set %i private-key FILE`;
// the file then needs no PrivateKey. ReadPrivateKey reads it as ReadFile
// reads a config (a regular file, a size limit), and its errors never
// show the file's content. The renders write the path, never the key.
func TestPrivateKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "wg0.key")
	if err := os.WriteFile(keyPath, []byte(articleKeyA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noKey := strings.Replace(interfaceA, "PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=\n", "", 1)
	for name, file := range map[string]string{
		"key":  noKey + "PrivateKeyFile = " + keyPath + "\n" + peerB,
		"hook": noKey + "PostUp = wg set %i private-key " + keyPath + "\n" + peerB,
	} {
		t.Run(name, func(t *testing.T) {
			f := mustParse(t, []byte(file))
			if f.PrivateKeyFile != keyPath || len(f.PostUp) != 0 {
				t.Fatalf("PrivateKeyFile %q, PostUp %q; want %q and no hook kept", f.PrivateKeyFile, f.PostUp, keyPath)
			}
			sameParse(t, f)
			if err := f.ReadPrivateKey(); err != nil {
				t.Fatal(err)
			}
			if f.Config.PrivateKey.String() != articleKeyA {
				t.Errorf("key read = %s, want the file's", f.Config.PrivateKey)
			}
			for name, out := range map[string][]byte{"Render": Render(f), "RenderNative": RenderNative(f)} {
				if strings.Contains(string(out), articleKeyA) || !strings.Contains(string(out), keyPath) {
					t.Errorf("%s writes the key, or not the key file:\n%s", name, out)
				}
			}
			if out := string(Strip(f)); !strings.Contains(out, "PrivateKey = "+articleKeyA+"\n") {
				t.Errorf("Strip lacks the key read from the file:\n%s", out)
			}
		})
	}

	twice := interfaceA + "PrivateKeyFile = " + keyPath + "\n" + peerB
	if _, err := Parse("wg0.conf", []byte(twice)); err == nil || !strings.Contains(err.Error(), "PrivateKeyFile: gives the private key again") {
		t.Errorf("PrivateKey and PrivateKeyFile: %v, want an error naming the second", err)
	}

	secret := "not-a-key-but-secret-material"
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte(secret), 0o600)
	big := filepath.Join(dir, "big.key")
	os.WriteFile(big, []byte(strings.Repeat("A", MaxKeyFileSize+1)), 0o600)
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		bad:                           "does not hold a WireGuard key",
		big:                           "too large for a key",
		fifo:                          "a FIFO, not a regular file",
		dir:                           "a directory, not a regular file",
		filepath.Join(dir, "missing"): "no such file",
	} {
		f := &File{PrivateKeyFile: path}
		err := f.ReadPrivateKey()
		var pe *ParseError
		switch {
		case err == nil || !strings.Contains(err.Error(), want):
			t.Errorf("ReadPrivateKey(%s) = %v, want %q", filepath.Base(path), err, want)
		case strings.Contains(err.Error(), secret):
			t.Errorf("ReadPrivateKey(%s) shows the file's content: %v", filepath.Base(path), err)
		case path != filepath.Join(dir, "missing") && (!errors.As(err, &pe) || pe.Key != "PrivateKeyFile"):
			t.Errorf("ReadPrivateKey(%s) = %#v, want a *ParseError naming PrivateKeyFile", filepath.Base(path), err)
		}
	}
}
