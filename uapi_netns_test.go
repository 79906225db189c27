package transparent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestEmbeddedNameOtherNetNS (issue 21, item 3): embedded UAPI sockets
// are shared by all namespaces. With an embedded device up in namespace
// A, a Tunnel of the same name in namespace B, where no such link exists,
// reads no device (the break: B's show reported A's peers and counters),
// Plan finds the clash and names A's namespace, and Up refuses it before
// any change; A's device is untouched. A second namespace of the same
// name with the kernel backend has no socket, so no clash: only the
// embedded backend is tested.
func TestEmbeddedNameOtherNetNS(t *testing.T) {
	if wantBackend() != transparent.BackendUserspace {
		t.Skip("the clash is between embedded devices' UAPI sockets; this run uses kernel WireGuard")
	}
	w := newArticle(t)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	a := newTunnel(t, cfg, w.A)
	if err := a.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)

	other := testns.New(t, "uapiother")
	before := dump(t, other)
	b, err := transparent.New(cfg, transparent.WithNetNS(other.Path), transparent.WithBackend(transparent.BackendUserspace))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if d, err := b.Device(); d != nil || err != nil {
		t.Errorf("Device in a namespace without the link: %v (peers %d), %v; want none", d != nil, peers(d), err)
	}
	_, err = b.Plan(ctx)
	if !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), w.A.Path) || !strings.Contains(err.Error(), "choose another interface name") {
		t.Errorf("Plan in the other namespace: %v; want ErrConflict naming %s and the fix", err, w.A.Path)
	}
	if err := b.Up(ctx); !errors.Is(err, transparent.ErrConflict) || !strings.Contains(err.Error(), w.A.Path) {
		t.Errorf("Up in the other namespace: %v; want ErrConflict naming %s", err, w.A.Path)
	}
	expectSameDump(t, other, before, "after the refused Up")
	if err := b.Check(ctx); !errors.Is(err, transparent.ErrConflict) {
		t.Errorf("Check in the other namespace: %v; want ErrConflict", err)
	}

	// A's device is A's still, and reads as such.
	if d, err := a.Device(); err != nil || peers(d) != 1 {
		t.Errorf("Device in A: %v peers, %v", peers(d), err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
	if err := a.Down(ctx); err != nil {
		t.Fatal(err)
	}
	// Free again: B may take the name now.
	if _, err := b.Plan(ctx); err != nil {
		t.Errorf("Plan in the other namespace once A is down: %v", err)
	}
}

// peers counts the device's peers; -1 for no device.
func peers(d *wgtypes.Device) int {
	if d == nil {
		return -1
	}
	return len(d.Peers)
}
