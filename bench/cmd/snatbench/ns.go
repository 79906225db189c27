package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
)

// session holds every namespace this program makes (testns names them
// wgt-snatbench-<tag>-<hex>), so that cleanupAll, deferred or on a
// signal, removes exactly what this process made and still has.
var session = &testns.Session{}

// cleanupAll deletes every namespace this process created and still has.
func cleanupAll() { session.Close() }

// netns is one fresh network namespace of this program.
type netns struct{ *testns.NS }

// newNS creates a fresh named network namespace, loopback up. A failure
// to create one ends the program (after cleanupAll), as testns does.
func newNS(tag string) *netns { return &netns{testns.New(session, "snatbench-"+tag)} }

// close deletes the namespace now.
func (n *netns) close() {
	if n != nil {
		n.Delete()
	}
}

// run runs a command inside the namespace (from a thread in it, as the
// library does; not through `ip netns exec`, which would add a second
// process and a mount namespace per command), and returns its output and
// the CPU time it used.
func (n *netns) run(stdin []byte, name string, args ...string) (out []byte, cpu time.Duration, err error) {
	err = n.Do(func() error {
		c := exec.Command(name, args...)
		if stdin != nil {
			c.Stdin = bytes.NewReader(stdin)
		}
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err = c.Output()
		if c.ProcessState != nil {
			if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
				cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			}
		}
		if err != nil {
			return fmt.Errorf("%s %v: %w: %s", name, args, err, bytes.TrimSpace(stderr.Bytes()))
		}
		return nil
	})
	return out, cpu, err
}

// cmd is run without the CPU time.
func (n *netns) cmd(stdin []byte, name string, args ...string) ([]byte, error) {
	out, _, err := n.run(stdin, name, args...)
	return out, err
}

// ipn runs `ip -n <ns> args...`: ip itself switches into the namespace.
func (n *netns) ipn(args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %v: %w: %s", n.Name, args, err, bytes.TrimSpace(out))
	}
	return nil
}
