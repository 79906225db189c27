package main

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// hooks runs a file's PreUp/PostUp/PreDown/PostDown commands like
// wg-quick: each with `sh -c`, %i replaced by the interface name, in the
// tunnel's network namespace, stopping at the first failure.
func (c *command) hooks(kind, iface string, cmds []string) error {
	for _, cmd := range cmds {
		line := strings.ReplaceAll(cmd, "%i", iface)
		fmt.Fprintf(c.stderr, "[#] %s\n", line)
		sh := exec.Command("sh", "-c", line)
		sh.Stdout, sh.Stderr = c.stderr, c.stderr
		if err := c.inNetNS(sh.Run); err != nil {
			return fmt.Errorf("%s %q: %w", kind, line, err)
		}
	}
	return nil
}

// inNetNS runs fn on a thread in the --netns namespace (a child process
// starts in the namespace of the thread that starts it), or as is without
// --netns. The thread is switched back before it is unlocked; if that
// fails it stays locked and Go discards it.
func (c *command) inNetNS(fn func() error) error {
	if c.netns == "" {
		return fn()
	}
	target, err := netns.GetFromPath(c.netnsPath())
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		fnErr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(fnErr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}
