package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Every namespace this program makes is named wgt-snatbench-<pid>-<tag>
// and listed here until deleted, so that cleanup (deferred, or on a
// signal) removes exactly what this process made.
var (
	nsMu      sync.Mutex
	nsCreated []string
	hostNetNS uint64 // inode of the namespace the program started in
)

func init() {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		panic(err)
	}
	hostNetNS = st.Ino
}

type netns struct {
	name string
	fd   int
	ino  uint64
}

// newNS creates a fresh named network namespace with `ip netns add`.
func newNS(tag string) (*netns, error) {
	name := fmt.Sprintf("wgt-snatbench-%d-%s", os.Getpid(), tag)
	nsMu.Lock()
	nsCreated = append(nsCreated, name)
	nsMu.Unlock()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /run/netns/%s: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Ino == hostNetNS {
		unix.Close(fd)
		return nil, fmt.Errorf("namespace %s is the host namespace: refusing", name)
	}
	return &netns{name: name, fd: fd, ino: st.Ino}, nil
}

// close deletes the namespace.
func (n *netns) close() error {
	if n == nil {
		return nil
	}
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	return deleteNS(n.name)
}

func deleteNS(name string) error {
	nsMu.Lock()
	defer nsMu.Unlock()
	i := slices.Index(nsCreated, name)
	if i < 0 {
		return nil
	}
	nsCreated = slices.Delete(nsCreated, i, i+1)
	if _, err := os.Stat("/run/netns/" + name); err != nil {
		return nil // never created
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// cleanupAll deletes every namespace this process created and still has.
func cleanupAll() {
	nsMu.Lock()
	names := slices.Clone(nsCreated)
	nsMu.Unlock()
	for _, name := range names {
		if err := deleteNS(name); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup:", err)
		}
	}
}

// do runs fn on a fresh OS thread that has entered the namespace. The
// thread is never switched back: its goroutine exits still locked, and Go
// terminates the thread. Before fn runs, the thread's namespace is checked
// to be n (and not the host's), so a child process fn starts (which
// inherits the namespace of the thread that forks it) can only ever run
// in n.
func (n *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			errc <- err
			return
		}
		if st.Ino != n.ino || st.Ino == hostNetNS {
			errc <- fmt.Errorf("thread is not in namespace %s after setns: refusing", n.name)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// cmd runs a command inside the namespace (from a thread in it, as the
// library does; not through `ip netns exec`, which would add a second
// process and a mount namespace per command).
func (n *netns) cmd(stdin []byte, name string, args ...string) (out []byte, err error) {
	err = n.do(func() error {
		c := exec.Command(name, args...)
		if stdin != nil {
			c.Stdin = bytes.NewReader(stdin)
		}
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err = c.Output()
		if err != nil {
			return fmt.Errorf("%s %v: %w: %s", name, args, err, bytes.TrimSpace(stderr.Bytes()))
		}
		return nil
	})
	return out, err
}

// ipn runs `ip -n <ns> args...`: ip itself switches into the namespace.
func (n *netns) ipn(args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %v: %w: %s", n.name, args, err, bytes.TrimSpace(out))
	}
	return nil
}
