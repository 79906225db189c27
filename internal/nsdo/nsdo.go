// Package nsdo runs a function inside a network namespace, the one way
// the library, its tests and its command all do it.
//
// Linux switches namespaces per thread, and Go moves goroutines between
// threads, so the function runs on a fresh goroutine locked to its thread.
// Sockets and child processes it opens belong to the namespace; goroutines
// it starts do not inherit it.
package nsdo

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on a fresh goroutine locked to an OS thread that is in the
// namespace ns, waits for it, and returns fn's error. A thread already in
// ns is not switched (switching needs CAP_SYS_ADMIN, even to the same
// namespace). After fn, a thread that is not in its original namespace
// (switched by Do, or by fn itself, as netns.NewNamed does) is switched
// back before it is unlocked; if that fails, the goroutine exits still
// locked, and Go terminates the thread rather than reuse it in the wrong
// namespace.
func Do(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get the thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		if !orig.Equal(ns) {
			if err := netns.Set(ns); err != nil {
				runtime.UnlockOSThread()
				errc <- fmt.Errorf("enter network namespace: %w", err)
				return
			}
		}
		fnErr := fn()
		if err := restore(orig); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("restore network namespace: %w", err))
			return // still locked: the thread is discarded
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// restore puts the calling thread back into orig unless it is there.
func restore(orig netns.NsHandle) error {
	cur, err := netns.Get()
	if err != nil {
		return err
	}
	defer cur.Close()
	if cur.Equal(orig) {
		return nil
	}
	return netns.Set(orig)
}
