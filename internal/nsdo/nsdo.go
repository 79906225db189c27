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
	_, err := do(ns, fn)
	return err
}

// ErrEnter is matched by the error of a thread that could not enter the
// namespace (setns), which needs CAP_SYS_ADMIN.
var ErrEnter = errors.New("enter network namespace")

// Here reports whether a thread that nobody switched, as Do starts from,
// is in ns: then Do and anything else working in ns need not switch
// namespaces, and so need no CAP_SYS_ADMIN.
func Here(ns netns.NsHandle) (bool, error) {
	return do(ns, nil)
}

// do is Do, and reports whether the thread was in ns already; a nil fn
// only reports that, without entering ns.
func do(ns netns.NsHandle, fn func() error) (here bool, err error) {
	type result struct {
		here bool
		err  error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{err: fmt.Errorf("get the thread's network namespace: %w", err)}
			return
		}
		defer orig.Close()
		here := orig.Equal(ns)
		if fn == nil {
			runtime.UnlockOSThread()
			res <- result{here: here}
			return
		}
		if !here {
			if err := netns.Set(ns); err != nil {
				runtime.UnlockOSThread()
				res <- result{err: fmt.Errorf("%w: %w", ErrEnter, err)}
				return
			}
		}
		fnErr := fn()
		if err := restore(orig); err != nil {
			res <- result{here, errors.Join(fnErr, fmt.Errorf("restore network namespace: %w", err))}
			return // still locked: the thread is discarded
		}
		runtime.UnlockOSThread()
		res <- result{here, fnErr}
	}()
	r := <-res
	return r.here, r.err
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
