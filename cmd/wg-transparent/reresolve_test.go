package main

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"github.com/wgtransparent/transparent/wgquick"
)

// TestReresolve: a peer whose Endpoint is a name and whose handshake is
// stale (none here) is looked up again, and a new address reaches the
// device and the exception rule through SetConfig and Up. The name is
// asked of the namespace's own name server (its resolv.conf as `ip netns
// exec` gives it); the tunnel's address for it starts out wrong.
func TestReresolve(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "reres")
	testns.DNS(t, ns, netip.MustParseAddr("127.0.0.1")).Set("b.example.test", time.Minute, netip.MustParseAddr("203.0.113.9"))
	netnsResolvConf(t, ns, "nameserver 127.0.0.1\n")
	name := uniqueName("wgs")
	conf := `[Interface]
PrivateKey = ` + genKey(t).String() + `
Address = 10.0.0.1/32
Table = 123

[Peer]
PublicKey = ` + genKey(t).PublicKey().String() + `
Endpoint = b.example.test:51822
AllowedIPs = 10.0.0.2/32
`
	f, err := wgquick.Parse(name+".conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	right := netip.MustParseAddrPort("203.0.113.9:51822")
	f.Config.Peers[0].Endpoint = netip.MustParseAddrPort("127.0.0.9:51822") // wrong
	tun, err := transparent.New(f.Config, transparent.WithNetNS(ns.Path), transparent.WithBackend(transparent.BackendUserspace))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	defer tun.Down(ctx)
	var log strings.Builder
	c := &command{stdout: io.Discard, stderr: &log, netns: ns.Name}
	changed, err := c.reresolve(ctx, tun, f)
	if err != nil || !changed || f.Config.Peers[0].Endpoint != right {
		t.Fatalf("reresolve = %v, %v; Endpoint %s, want %s\n%s", changed, err, f.Config.Peers[0].Endpoint, right, log.String())
	}
	dev, err := tun.Device()
	if err != nil || len(dev.Peers) != 1 || dev.Peers[0].Endpoint == nil || dev.Peers[0].Endpoint.String() != right.String() {
		t.Errorf("device after reresolve: %+v, %v; want endpoint %s", dev, err, right)
	}
	if err := tun.Check(ctx); err != nil {
		t.Errorf("check after reresolve: %v", err)
	}
	if !strings.Contains(log.String(), "Endpoint b.example.test now resolves to "+right.String()) {
		t.Errorf("log:\n%s", log.String())
	}
	if changed, err := c.reresolve(ctx, tun, f); err != nil || changed {
		t.Errorf("second reresolve = %v, %v, want nothing to do", changed, err)
	}
}
