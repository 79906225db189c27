package transparent_test

import (
	"context"
	"os"
	"testing"

	"github.com/wgtransparent/transparent"
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

// kernelHasWireGuard is the tests' own oracle, independent of the
// library's detection: the VM run loads the module before the tests, so it
// shows in /sys/module; this machine's kernel has none.
func kernelHasWireGuard() bool {
	_, err := os.Stat("/sys/module/wireguard")
	return err == nil
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
