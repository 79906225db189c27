package main

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/nsdo"
)

// hookShell runs the hooks, as wg-quick does (it evals them in bash):
// wg-quick(8)'s own examples use bash syntax such as <(…).
const hookShell = "bash"

// hooks runs a file's PreUp/PostUp/PreDown/PostDown commands like
// wg-quick: each echoed as "[#] command", run with `bash -c`, %i replaced
// by the interface name, in the tunnel's network namespace, stopping at
// the first failure.
func (c *command) hooks(kind, iface string, cmds []string) error {
	for _, cmd := range cmds {
		line := strings.ReplaceAll(cmd, "%i", iface)
		fmt.Fprintf(c.stderr, "[#] %s\n", quoteControl(line))
		sh := exec.Command(hookShell, "-c", line)
		sh.Stdout, sh.Stderr = c.stderr, c.stderr
		if err := c.inNetNS(sh.Run); err != nil {
			return fmt.Errorf("%s %q: %w", kind, line, err)
		}
	}
	return nil
}

// downHooks runs every down hook even when one fails (down goes on), and
// returns the failures.
func (c *command) downHooks(kind, iface string, cmds []string) []error {
	var errs []error
	for _, cmd := range cmds {
		if err := c.hooks(kind, iface, []string{cmd}); err != nil {
			fmt.Fprintf(c.stderr, "%s: %v; going on with down\n", program, err)
			errs = append(errs, err)
		}
	}
	return errs
}

// inNetNS runs fn on a thread in the --netns namespace (a child process
// starts in the namespace of the thread that starts it), or as is without
// --netns.
func (c *command) inNetNS(fn func() error) error {
	if c.netns == "" {
		return fn()
	}
	target, err := netns.GetFromPath(c.netnsPath())
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	return nsdo.Do(target, fn)
}
