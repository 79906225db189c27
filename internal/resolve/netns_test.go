package resolve_test

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/resolve"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestLookupFromTargetNamespace: in the article's world, Endpoint A asks a
// name server on B over the routed network, IPv4 and IPv6, with its
// sockets made in A; ServerFor finds the server in A's own resolv.conf
// (/etc/netns/NAME/resolv.conf) exactly where `ip netns exec` puts it, and
// a namespace without one gets the system's.
func TestLookupFromTargetNamespace(t *testing.T) {
	testns.RequireRoot(t)
	w := testns.Article(t)
	servers := []*testns.DNSServer{
		testns.DNS(t, w.B, netip.MustParseAddr("203.0.113.2")),
		testns.DNS(t, w.B, netip.MustParseAddr("2001:db8:b::2")),
	}
	for _, srv := range servers {
		srv.Set("app.example.com", time.Minute, ips("203.0.113.80", "2001:db8:b::80")...)
		r := &resolve.Resolver{Server: srv.Addr(), Dial: dialIn(w.A), Timeout: time.Second}
		a, err := r.Lookup(context.Background(), "app.example.com")
		if err != nil || !slices.Equal(a.Addrs, ips("203.0.113.80", "2001:db8:b::80")) {
			t.Errorf("from A via %v: %+v, %v", srv.Addr(), a, err)
		}
		if n := srv.Queries("app.example.com"); n != 2 {
			t.Errorf("server %v got %d questions, want 2", srv.Addr(), n)
		}
	}

	conf := netnsResolvConf(t, w.A.Name, "# test\nnameserver 2001:db8:b::2\n")
	got, err := resolve.ServerFor(w.A.Path)
	if err != nil || got != servers[1].Addr() {
		t.Errorf("ServerFor(%s) = %v, %v; want %v from %s", w.A.Path, got, err, servers[1].Addr(), conf)
	}
	out, err := exec.Command("ip", "netns", "exec", w.A.Name, "cat", "/etc/resolv.conf").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nameserver 2001:db8:b::2") {
		t.Errorf("ip netns exec %s cat /etc/resolv.conf: %v\n%s\nwant the file ServerFor read", w.A.Name, err, out)
	}
	host, hostErr := resolve.ServerFor("")
	other, otherErr := resolve.ServerFor(w.C.Path)
	if other != host || (hostErr == nil) != (otherErr == nil) {
		t.Errorf("ServerFor(%s) = %v, %v; want the system's, as ServerFor(\"\") = %v, %v", w.C.Path, other, otherErr, host, hostErr)
	}
}

// netnsResolvConf writes /etc/netns/name/resolv.conf for the test's own
// namespace and removes it (and /etc/netns, if the test made it) at
// cleanup. It returns the file's path.
func netnsResolvConf(t *testing.T, name, text string) string {
	t.Helper()
	const etcNetns = "/etc/netns"
	_, err := os.Stat(etcNetns)
	madeRoot := errors.Is(err, fs.ErrNotExist)
	dir := filepath.Join(etcNetns, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		if madeRoot {
			os.Remove(etcNetns) // only if empty: another test may use it now
		}
	})
	path := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
