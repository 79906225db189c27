package resolve

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestParseHosts(t *testing.T) {
	data := []byte(`# static names
127.0.0.1	localhost
203.0.113.2	b.example.test b   # the peer
2001:db8::2	B.Example.Test.
203.0.113.2	b.example.test
::ffff:198.51.100.9 mapped.example.test
not-an-address b.example.test
198.51.100.7
`)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"b.example.test", []string{"203.0.113.2", "2001:db8::2"}},
		{"b.example.test.", []string{"203.0.113.2", "2001:db8::2"}},
		{"mapped.example.test", []string{"198.51.100.9"}},
		{"c.example.test", nil},
	} {
		var got []string
		for _, a := range parseHosts(data, tc.name) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHostsFor(t *testing.T) {
	dir := t.TempDir()
	etcNetns := filepath.Join(dir, "netns")
	system := filepath.Join(dir, "hosts")
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(system, "203.0.113.2 b.example.test\n")
	write(filepath.Join(etcNetns, "a", "hosts"), "192.0.2.2 b.example.test\n")
	get := func(netns string) []netip.Addr {
		t.Helper()
		addrs, err := hostsFor(netns, "b.example.test", etcNetns, system)
		if err != nil {
			t.Fatal(err)
		}
		return addrs
	}
	if got := get(""); len(got) != 1 || got[0] != netip.MustParseAddr("203.0.113.2") {
		t.Errorf("own namespace: %v, want the system's file", got)
	}
	if got := get("/run/netns/a"); len(got) != 1 || got[0] != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("namespace a: %v, want /etc/netns/a/hosts", got)
	}
	if got := get("/run/netns/other"); len(got) != 1 || got[0] != netip.MustParseAddr("203.0.113.2") {
		t.Errorf("namespace without its own file: %v, want the system's file", got)
	}
	if got, err := hostsFor("", "b.example.test", etcNetns, filepath.Join(dir, "absent")); err != nil || got != nil {
		t.Errorf("no hosts file: %v, %v; want nothing", got, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := hostsFor("", "b.example.test", etcNetns, fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a FIFO as hosts file: %v, want refused at once", err)
	}
}
