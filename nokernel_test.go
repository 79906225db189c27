//go:build !vm

package transparent_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestKernelBackendWithoutKernelWireGuard: on a kernel without WireGuard
// (this machine's; the VM run builds without this file), forcing the
// kernel backend fails with ErrNoKernelWireGuard and changes nothing.
func TestKernelBackendWithoutKernelWireGuard(t *testing.T) {
	w := newArticle(t)
	if kernelHasWireGuard() {
		t.Fatal("this kernel has WireGuard: run this suite in the VM with -tags vm")
	}
	before := dump(t, w.A)
	tun, err := transparent.New(w.configA(transparent.PeerRouteRule), transparent.WithNetNS(w.A.Path), transparent.WithBackend(transparent.BackendKernel))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if err := tun.Up(context.Background()); !errors.Is(err, transparent.ErrNoKernelWireGuard) {
		t.Errorf("Up = %v, want ErrNoKernelWireGuard", err)
	}
	expectSameDump(t, w.A, before, "after a failed Up")
}
