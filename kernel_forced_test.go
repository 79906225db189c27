package transparent_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestKernelBackendForced: forcing BackendKernel gives a kernel WireGuard
// link or a clear refusal that changes nothing, whichever the kernel
// allows. Both are promises of BackendKernel, so the test checks the one
// that is true where it runs, as the tests' own oracle (kernelHasWireGuard)
// says, and never skips (CI counts a skip as a failure, and the test
// command must pass on any kernel):
//
//   - without WireGuard in the kernel (this development machine's), Up
//     fails with ErrNoKernelWireGuard and the namespace is unchanged;
//   - with it (most users' machines, and test/vm, which runs the suite
//     both as the tests built for it and as such a user would), Up makes
//     a link of type "wireguard", Check is clean, and Down restores the
//     namespace.
func TestKernelBackendForced(t *testing.T) {
	w := newArticle(t)
	before := dump(t, w.A)
	tun, err := transparent.New(w.configA(transparent.PeerRouteRule), transparent.WithNetNS(w.A.Path), transparent.WithBackend(transparent.BackendKernel))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	err = tun.Up(ctx)
	if !kernelHasWireGuard() {
		if !errors.Is(err, transparent.ErrNoKernelWireGuard) {
			t.Errorf("Up on a kernel without WireGuard = %v, want ErrNoKernelWireGuard", err)
		}
		expectSameDump(t, w.A, before, "after a failed Up")
		return
	}
	if err != nil {
		t.Fatalf("Up on a kernel with WireGuard: %v", err)
	}
	if got := tun.Backend(); got != transparent.BackendKernel {
		t.Errorf("Backend() = %s, want kernel", got)
	}
	link, err := w.A.Netlink().LinkByName(w.nameA)
	if err != nil {
		t.Fatal(err)
	}
	if link.Type() != "wireguard" {
		t.Errorf("link type %q, want wireguard", link.Type())
	}
	if err := tun.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	expectSameDump(t, w.A, before, "after Down")
}
