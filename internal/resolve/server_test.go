package resolve

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestServerFor(t *testing.T) {
	dir := t.TempDir()
	etcNetns := filepath.Join(dir, "netns")
	def := filepath.Join(dir, "resolv.conf")
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(def, "# system\nsearch example.com\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n")
	write(filepath.Join(etcNetns, "blue", "resolv.conf"), "nameserver fe80::53%eth0 # link-local with zone\n")
	write(filepath.Join(etcNetns, "green", "resolv.conf"), "; none here\noptions edns0\n")
	write(filepath.Join(etcNetns, "bad", "resolv.conf"), "nameserver dns.example.com\n")
	write(filepath.Join(etcNetns, "big", "resolv.conf"), strings.Repeat("#\n", maxResolvConf))
	write(filepath.Join(etcNetns, "later", "resolv.conf"), "nameserver not-an-address\n  nameserver\t2001:db8::53  \n")

	for _, tt := range []struct {
		netns string
		want  string // the server, or a part of the error
		err   error
	}{
		{"", "192.0.2.53:53", nil},
		{"/run/netns/blue", "[fe80::53%eth0]:53", nil},
		{"/var/run/netns/blue", "[fe80::53%eth0]:53", nil},
		{"/run/netns/red", "192.0.2.53:53", nil}, // no /etc/netns/red: the system's
		{"/proc/1/ns/net", "192.0.2.53:53", nil}, // not a named namespace
		{"/run/netns/later", "[2001:db8::53]:53", nil},
		{"/run/netns/green", "has no nameserver line: add one", ErrNoServer},
		{"/run/netns/bad", `not addresses: ["dns.example.com"]`, ErrNoServer},
		{"/run/netns/big", "larger than 65536 bytes", nil},
	} {
		got, err := serverFor(tt.netns, etcNetns, def)
		if err != nil {
			if tt.err != nil && !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serverFor(%q) = %v, want an error saying %q", tt.netns, err, tt.want)
			}
			continue
		}
		if got != netip.MustParseAddrPort(tt.want) {
			t.Errorf("serverFor(%q) = %v, want %v", tt.netns, got, tt.want)
		}
	}

	// A FIFO (or a device) as resolv.conf is refused at once, not waited
	// on: no writer ever comes.
	fifo := filepath.Join(etcNetns, "fifo", "resolv.conf")
	if err := os.MkdirAll(filepath.Dir(fifo), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, netns := range []string{"/run/netns/fifo", "/run/netns/dir"} {
		if netns == "/run/netns/dir" {
			if err := os.MkdirAll(filepath.Join(etcNetns, "dir", "resolv.conf"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := serverFor(netns, etcNetns, def); !errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("serverFor(%q) = %v, want ErrNoServer saying not a regular file", netns, err)
		}
	}

	os.Remove(def)
	if _, err := serverFor("", etcNetns, def); !errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), def) {
		t.Errorf("serverFor without resolv.conf = %v, want ErrNoServer naming %s", err, def)
	}
}
