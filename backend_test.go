package transparent_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// testBackend is the backend the integration tests force, from the
// environment variable WGTRANSPARENT_TEST_BACKEND: "kernel", "userspace",
// or empty for BackendAuto. The VM run (test/vm) sets "kernel".
func testBackend() transparent.Backend {
	switch os.Getenv("WGTRANSPARENT_TEST_BACKEND") {
	case "kernel":
		return transparent.BackendKernel
	case "userspace":
		return transparent.BackendUserspace
	}
	return transparent.BackendAuto
}

// kernelWG caches kernelHasWireGuard's answer.
var kernelWG struct {
	once sync.Once
	has  bool
}

// kernelHasWireGuard is the tests' own oracle, independent of the
// library's detection (a generic netlink query): can this kernel make a
// WireGuard link? A loaded module shows in /sys/module (the VM run loads
// it before the tests). Otherwise the oracle makes a link of type
// wireguard in a namespace of its own, as `ip link add type wireguard`
// would: on a stock machine the module is there but not loaded until
// first used, and that loads it, as the library's query does too. This
// machine's kernel has no module to load.
func kernelHasWireGuard() bool {
	kernelWG.once.Do(func() {
		if _, err := os.Stat("/sys/module/wireguard"); err == nil {
			kernelWG.has = true
			return
		}
		if os.Geteuid() != 0 { // no namespace to try in; the root tests ask first
			return
		}
		s := &testns.Session{}
		defer s.Close()
		ns := testns.New(s, "wgprobe")
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "wgprobe"
		kernelWG.has = ns.Netlink().LinkAdd(&netlink.Wireguard{LinkAttrs: attrs}) == nil
	})
	return kernelWG.has
}

// wantBackend is the backend a tunnel made with testBackend must use.
func wantBackend() transparent.Backend {
	if b := testBackend(); b != transparent.BackendAuto {
		return b
	}
	if kernelHasWireGuard() {
		return transparent.BackendKernel
	}
	return transparent.BackendUserspace
}

// TestAutoBackend: BackendAuto picks kernel WireGuard where the kernel
// has it (in the VM) and the embedded device where it does not (here).
func TestAutoBackend(t *testing.T) {
	w := newArticle(t)
	tun, err := transparent.New(w.configA(transparent.PeerRouteRule), transparent.WithNetNS(w.A.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if err := tun.Up(context.Background()); err != nil {
		t.Fatalf("Up: %v", err)
	}
	want := transparent.BackendUserspace
	if kernelHasWireGuard() {
		want = transparent.BackendKernel
	}
	if got := tun.Backend(); got != want {
		t.Errorf("Backend() = %s, want %s (kernel WireGuard present: %v)", got, want, kernelHasWireGuard())
	}
	link, err := w.A.Netlink().LinkByName(w.nameA)
	if err != nil {
		t.Fatal(err)
	}
	wantType := map[transparent.Backend]string{transparent.BackendKernel: "wireguard", transparent.BackendUserspace: "tuntap"}[want]
	if link.Type() != wantType {
		t.Errorf("link type %q, want %q", link.Type(), wantType)
	}
	if err := tun.Down(context.Background()); err != nil {
		t.Fatalf("Down: %v", err)
	}
}
