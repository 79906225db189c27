//go:build vm

// Tests that need kernel WireGuard. They are built only for the VM run
// (test/vm), whose stock kernel has it; this machine's kernel does not.

package transparent_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
)

// TestMixedBackends: A runs kernel WireGuard and B the embedded device;
// the article's second half works between them.
func TestMixedBackends(t *testing.T) {
	w := newArticle(t)
	cfgA, cfgB := ends{fams: []family{ipv4, ipv6}, snatA: transparent.SNATOutbound}.configs(w)
	beforeA, beforeB := fullDump(t, w.A), fullDump(t, w.B)
	a, err := transparent.New(cfgA, transparent.WithNetNS(w.A.Path), transparent.WithBackend(transparent.BackendKernel))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := transparent.New(cfgB, transparent.WithNetNS(w.B.Path), transparent.WithBackend(transparent.BackendUserspace))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	for _, tun := range []*transparent.Tunnel{b, a} {
		if err := tun.Up(ctx); err != nil {
			t.Fatalf("Up: %v", err)
		}
	}
	if a.Backend() != transparent.BackendKernel || b.Backend() != transparent.BackendUserspace {
		t.Errorf("backends A %s, B %s; want kernel and userspace", a.Backend(), b.Backend())
	}
	for _, f := range []family{ipv4, ipv6} {
		w.expectClient(t, w.A, f.url(f.pubB), f.pubA)
	}
	for _, tun := range []*transparent.Tunnel{a, b} {
		if err := tun.Down(ctx); err != nil {
			t.Fatalf("Down: %v", err)
		}
	}
	expectSame(t, "A after Down", beforeA, fullDump(t, w.A))
	expectSame(t, "B after Down", beforeB, fullDump(t, w.B))
}

// TestForeignKernelLink: a kernel WireGuard link of the tunnel's name that
// the tunnel did not make (no alias), as wg-quick would leave, is refused
// by Up and left alone by Down.
func TestForeignKernelLink(t *testing.T) {
	w := newArticle(t)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = w.nameA
	if err := w.A.Netlink().LinkAdd(&netlink.Wireguard{LinkAttrs: attrs}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, w.A)
	tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
	if err := tun.Up(context.Background()); !errors.Is(err, transparent.ErrConflict) {
		t.Errorf("Up = %v, want ErrConflict", err)
	}
	if err := tun.Down(context.Background()); !errors.Is(err, transparent.ErrConflict) {
		t.Errorf("Down = %v, want ErrConflict saying it left the link alone", err)
	}
	expectSameDump(t, w.A, before, "after Up and Down next to a foreign link")
}

// TestInterruptedKernelLink: a process that died between creating the
// kernel link and setting its alias left a link marked only by its group;
// Up adopts it and Down removes it.
func TestInterruptedKernelLink(t *testing.T) {
	w := newArticle(t)
	before := dump(t, w.A)
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Group = w.nameA, transparent.LinkGroup
	if err := w.A.Netlink().LinkAdd(&netlink.Wireguard{LinkAttrs: attrs}); err != nil {
		t.Fatal(err)
	}
	tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
	if err := tun.Up(context.Background()); err != nil {
		t.Fatalf("Up over the interrupted link: %v", err)
	}
	if err := tun.Down(context.Background()); err != nil {
		t.Fatalf("Down: %v", err)
	}
	expectSameDump(t, w.A, before, "after Down")
}
