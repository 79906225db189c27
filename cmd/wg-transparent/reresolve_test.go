package main

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"github.com/wgtransparent/transparent/wgquick"
)

// TestReresolve: a peer whose Endpoint is a name and whose handshake is
// stale (none here) is looked up again, and a new address reaches the
// device and the exception rule through SetConfig and Up. The name is
// "localhost", the one name every test machine resolves without a
// network; the file's address for it starts out wrong.
func TestReresolve(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "reres")
	name := uniqueName("wgs")
	conf := `[Interface]
PrivateKey = ` + genKey(t).String() + `
Address = 10.0.0.1/32
Table = 123

[Peer]
PublicKey = ` + genKey(t).PublicKey().String() + `
Endpoint = localhost:51822
AllowedIPs = 10.0.0.2/32
`
	f, err := wgquick.Parse(name+".conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	right := f.Config.Peers[0].Endpoint
	wrong := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.9"), 51822)
	if right.Addr() == wrong.Addr() {
		t.Skipf("localhost resolves to %s", right)
	}
	f.Config.Peers[0].Endpoint = wrong
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
	if !strings.Contains(log.String(), "Endpoint localhost now resolves to "+right.String()) {
		t.Errorf("log:\n%s", log.String())
	}
	if changed, err := c.reresolve(ctx, tun, f); err != nil || changed {
		t.Errorf("second reresolve = %v, %v, want nothing to do", changed, err)
	}
}
