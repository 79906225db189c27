// Command wg-transparent brings up and down a WireGuard transparent
// tunnel described by a wg-quick file, with the library instead of
// hand-written PreUp/PostDown lines.
//
//	wg-transparent up|down|plan|check|render|import|show FILE [--netns NAME] [--backend auto|kernel|userspace]
//
// FILE is a wg-quick file (wg0.conf; the interface is named after it),
// with the library's own keys (Priority, PeerRoute, Exception, SNAT,
// PublicAddress; Transparent and ExpectedEndpoint in [Peer]) or in the
// article's style, whose ip rule/ip route/iptables hooks are recognized.
//
//	up      make the tunnel match FILE. With an embedded WireGuard device
//	        (no kernel WireGuard) it stays in the foreground, since it runs
//	        the device, until SIGINT or SIGTERM, then brings the tunnel
//	        down; with kernel WireGuard it returns. Runs FILE's remaining
//	        PreUp/PostUp hooks like wg-quick (%i is the interface).
//	down    remove what up made, running PreDown/PostDown hooks.
//	plan    print what up would do to each object (keep, add, replace,
//	        remove) with the equivalent ip/wg/nft/iptables command; change
//	        nothing.
//	check   exit 0 when the system matches FILE, 1 (printing the
//	        differences) when it has drifted.
//	render  print FILE as a plain wg-quick file whose hooks do what the
//	        library does, for hosts that must stay on wg-quick.
//	import  print FILE with the library's own keys instead of hooks.
//	show    print the live tunnel: device, peers, rules and routes.
//
// Exit status: 0 success (check: in sync), 1 check found drift, 2 error
// (usage, a bad file, a failed operation).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

const usage = `usage: wg-transparent up|down|plan|check|render|import|show FILE [--netns NAME] [--backend auto|kernel|userspace]

  up      make the tunnel match FILE (stays in the foreground with an embedded device)
  down    remove what up made
  plan    print what up would change
  check   exit 0 in sync, 1 on drift
  render  print FILE as a plain wg-quick file
  import  print FILE with this library's keys
  show    print the live tunnel

exit status: 0 success, 1 drift (check), 2 error`

// Exit statuses.
const (
	exitOK    = 0
	exitDrift = 1
	exitError = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one invocation: what to do, to which file, where.
type command struct {
	verb    string
	file    string
	netns   string // a name under /run/netns, or a path
	backend transparent.Backend
	stdout  io.Writer
	stderr  io.Writer
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "wg-transparent: %v\n\n%s\n", err, usage)
		return exitError
	}
	c.stdout, c.stderr = stdout, stderr
	status, err := c.run()
	if err != nil {
		fmt.Fprintf(stderr, "wg-transparent: %s: %v\n", c.verb, err)
	}
	return status
}

// parseArgs takes the verb, the file and the flags, in any order after
// the verb.
func parseArgs(args []string) (*command, error) {
	fs := flag.NewFlagSet("wg-transparent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	netns := fs.String("netns", "", "network namespace: a name under /run/netns, or a path")
	backend := fs.String("backend", "auto", "WireGuard implementation: auto, kernel or userspace")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		return nil, errors.New("want a command and a FILE")
	}
	c := &command{verb: pos[0], file: pos[1], netns: *netns}
	switch *backend {
	case "auto":
		c.backend = transparent.BackendAuto
	case "kernel":
		c.backend = transparent.BackendKernel
	case "userspace":
		c.backend = transparent.BackendUserspace
	default:
		return nil, fmt.Errorf("--backend %q: use auto, kernel or userspace", *backend)
	}
	switch c.verb {
	case "up", "down", "plan", "check", "render", "import", "show":
	default:
		return nil, fmt.Errorf("unknown command %q", c.verb)
	}
	return c, nil
}

func (c *command) run() (int, error) {
	data, err := os.ReadFile(c.file)
	if err != nil {
		return exitError, err
	}
	f, err := wgquick.Parse(filepath.Base(c.file), data) // names the interface, as with wg-quick
	if err != nil {
		return exitError, err
	}
	switch c.verb {
	case "render":
		c.stdout.Write(wgquick.Render(f))
		return exitOK, nil
	case "import":
		for _, n := range f.Notes {
			fmt.Fprintln(c.stderr, "note:", n)
		}
		c.stdout.Write(wgquick.RenderNative(f))
		return exitOK, nil
	}
	for _, n := range f.Notes {
		fmt.Fprintln(c.stderr, "note:", n)
	}
	opts := []transparent.Option{transparent.WithBackend(c.backend)}
	if c.netns != "" {
		opts = append(opts, transparent.WithNetNS(c.netnsPath()))
	}
	tun, err := transparent.New(f.Config, opts...)
	if err != nil {
		return exitError, err
	}
	defer tun.Close()
	ctx := context.Background()
	switch c.verb {
	case "up":
		return c.up(ctx, tun, f)
	case "down":
		return c.down(ctx, tun, f)
	case "plan":
		plan, err := tun.Plan(ctx)
		if err != nil {
			return exitError, err
		}
		changes := 0
		for _, ch := range plan {
			fmt.Fprintln(c.stdout, ch)
			if ch.Op != transparent.OpKeep {
				changes++
			}
		}
		fmt.Fprintf(c.stdout, "%d changes\n", changes)
		return exitOK, nil
	case "check":
		err := tun.Check(ctx)
		var drift *transparent.DriftError
		switch {
		case err == nil:
			fmt.Fprintln(c.stdout, "in sync:", c.file)
			return exitOK, nil
		case errors.As(err, &drift):
			fmt.Fprintf(c.stdout, "drift: up would:\n")
			for _, ch := range drift.Changes {
				fmt.Fprintln(c.stdout, "  ", ch)
			}
			return exitDrift, nil
		}
		return exitError, err
	case "show":
		return c.show(tun, f)
	}
	return exitError, fmt.Errorf("unknown command %q", c.verb)
}

func (c *command) netnsPath() string {
	if strings.Contains(c.netns, "/") {
		return c.netns
	}
	return filepath.Join("/run/netns", c.netns)
}

// up applies the file, and with an embedded device it runs, waits for a
// signal (or for another process to bring the device down).
func (c *command) up(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	if err := c.hooks("PreUp", name, f.PreUp); err != nil {
		return exitError, err
	}
	if err := tun.Up(ctx); err != nil {
		return exitError, err
	}
	if err := c.hooks("PostUp", name, f.PostUp); err != nil {
		return exitError, err
	}
	done := tun.DeviceDone()
	if done == nil {
		fmt.Fprintf(c.stdout, "%s is up (%s WireGuard device); `wg-transparent down %s` removes it\n", name, tun.Backend(), c.file)
		return exitOK, nil
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	fmt.Fprintf(c.stdout, "%s is up (embedded WireGuard device, run by this process); staying in the foreground until SIGINT or SIGTERM\n", name)
	select {
	case s := <-sig:
		fmt.Fprintf(c.stdout, "%s: bringing %s down\n", s, name)
		return c.down(ctx, tun, f)
	case <-done:
		fmt.Fprintf(c.stdout, "%s: the embedded device was stopped from outside (wg-transparent down?); exiting\n", name)
		return exitOK, nil
	}
}

func (c *command) down(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	if err := c.hooks("PreDown", name, f.PreDown); err != nil {
		return exitError, err
	}
	if err := tun.Down(ctx); err != nil {
		return exitError, err
	}
	if err := c.hooks("PostDown", name, f.PostDown); err != nil {
		return exitError, err
	}
	fmt.Fprintf(c.stdout, "%s is down\n", name)
	return exitOK, nil
}
