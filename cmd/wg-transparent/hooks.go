package main

import (
	"errors"
	"fmt"
	"os"
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
	path := c.netnsPath()
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()
	err = nsdo.Do(target, fn)
	if !errors.Is(err, nsdo.ErrEnter) {
		return err
	}
	if errors.Is(err, os.ErrPermission) && !hasCapability(capSysAdmin) {
		return fmt.Errorf("%s: %w (the process lacks CAP_SYS_ADMIN, which entering another network namespace needs: grant it as well as CAP_NET_ADMIN, or run as root with every capability)", path, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}
