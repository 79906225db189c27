package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// refreshInterval is how often run looks at the peers' handshakes (and
// re-resolves stale Endpoint names) and re-applies the tunnel, which
// catches what raises no netlink event for Watch (SNAT rules, device
// settings): reresolve-dns.sh is usually run every 30 seconds.
const refreshInterval = 30 * time.Second

// runForeground is the verb run: up, tell systemd, then keep the tunnel
// as the file says until a stop signal, and bring it down.
func (c *command) runForeground(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, stopSignals...) // before up: a signal during up still brings it down
	defer signal.Stop(sig)
	if err := c.up(ctx, tun, f); err != nil {
		return exitError, err
	}
	if err := notifySystemd("READY=1\nSTATUS=" + name + " is up"); err != nil {
		c.logf("%s: %v", program, err)
	}
	fmt.Fprintf(c.stdout, "%s is up (%s WireGuard device); running until SIGINT, SIGTERM or SIGHUP\n", name, tun.Backend())

	loop, stop := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- tun.Watch(loop) }() // repairs drift as the kernel reports it
	ticker := time.NewTicker(refreshInterval)
	defer ticker.Stop()
	var status int
	var err error
	for status, err = -1, nil; status < 0; {
		select {
		case s := <-sig:
			c.logf("[#] %s: bringing %s down", s, name)
			status, err = exitOK, nil
		case <-tun.DeviceDone(): // nil for kernel WireGuard: never
			fmt.Fprintf(c.stdout, "%s: the embedded device was stopped from outside (%s down?); exiting\n", name, program)
			stop()
			<-watched
			return exitOK, nil
		case werr := <-watched:
			status, err = exitError, fmt.Errorf("watch %s: %w", name, werr)
		case <-ticker.C:
			c.refresh(loop, tun, f)
		}
	}
	stop()
	if err == nil {
		<-watched
	}
	notifySystemd("STOPPING=1")
	dstatus, derr := c.down(context.WithoutCancel(ctx), tun, f)
	return max(status, dstatus), errors.Join(err, derr)
}

// refresh is run's periodic work: stale Endpoint names, then an Up for
// what Watch cannot see. Transparent host names need nothing here: Watch
// resolves each again when its TTL runs out, and applies the change.
func (c *command) refresh(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) {
	if _, err := c.reresolve(ctx, tun, f); err != nil && ctx.Err() == nil {
		c.logf("%s: re-resolve endpoints: %v", program, err)
	}
	if err := tun.Up(ctx); err != nil && ctx.Err() == nil {
		c.logf("%s: up: %s", program, commandText(err))
	}
}

// logf prints one line on stderr, control characters escaped.
func (c *command) logf(format string, args ...any) {
	fmt.Fprintln(c.stderr, quoteControl(fmt.Sprintf(format, args...)))
}
