package transparent

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// netNS is the network namespace a Tunnel works in.
//
// Netlink requests go through a handle bound to it (netlink.NewHandleAt),
// which needs no thread switching. Everything that opens a socket or a
// device in "the current namespace" (the wgctrl client, the TUN device, the
// embedded device's UDP sockets) runs inside do.
type netNS struct {
	handle netns.NsHandle
}

// do runs fn on a fresh goroutine locked to an OS thread that is switched
// into the namespace, and waits for it. Goroutines that fn starts do not
// inherit the namespace; sockets fn opens stay in it.
//
// The thread is switched back before it is unlocked. If switching back
// fails, the goroutine exits still locked, and the Go runtime then
// terminates the thread instead of reusing it in the wrong namespace.
func (n netNS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if orig.Equal(n.handle) {
			// Already there: no switch, which would need CAP_SYS_ADMIN.
			fnErr := fn()
			runtime.UnlockOSThread()
			errc <- fnErr
			return
		}
		if err := netns.Set(n.handle); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		fnErr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("restore network namespace: %w", err))
			return // still locked: the thread is discarded
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}
