package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// refreshInterval is how often run looks at the peers' handshakes (and
// re-resolves stale Endpoint names) and re-applies the tunnel, a backstop
// for Watch, which finds drift itself within about two seconds but tries
// a failed repair again only at the next change: reresolve-dns.sh is
// usually run every 30 seconds.
const refreshInterval = 30 * time.Second

// runForeground is the verb run: up, tell systemd, then keep the tunnel
// as the file says until a stop signal, and bring it down. SIGHUP
// reloads the file (reloader). A second run
// of the tunnel (or one next to a foreground up running its embedded
// device) is refused, naming the process that keeps it. Another
// process's down ends run, which then exits 0 without touching anything;
// a device whose link was deleted is made again.
func (c *command) runForeground(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	sig, hup, stop := keeperSignals()
	defer stop()
	release, err := tun.Keep("run")
	if err != nil {
		return exitError, err
	}
	defer release()
	if err := c.up(ctx, tun, f, tun.Up); err != nil {
		return exitError, err
	}
	loop, stop := context.WithCancel(ctx)
	defer stop()
	var metrics *collector
	if c.metrics != "" { // before READY: the unit is active once its metrics answer
		if metrics, err = c.serveMetrics(loop, c.metrics, tun, f.Config); err != nil {
			stop()
			_, derr := c.down(context.WithoutCancel(ctx), tun, f)
			return exitError, errors.Join(err, derr)
		}
	}
	var rl reloader
	rl.ready(c, tun)
	if err := notifySystemd("READY=1\nSTATUS=" + name + " is up"); err != nil {
		c.logf("%s: %v", program, err)
	}
	fmt.Fprintf(c.stdout, "%s is up (%s WireGuard device); running until SIGINT or SIGTERM (SIGHUP reloads %s)\n", name, tun.Backend(), c.file)

	watched := make(chan error, 1)
	go func() { watched <- tun.Watch(loop) }() // repairs drift as the kernel reports it
	ticker := time.NewTicker(refreshInterval)
	defer ticker.Stop()
	var status int
	watching := true
	done := tun.DeviceDone() // nil for kernel WireGuard: never
	for status, err = -1, nil; status < 0; {
		select {
		case s := <-sig:
			c.logf("[#] %s: bringing %s down", s, name)
			status, err = exitOK, nil
		case <-hup:
			err = rl.reload(loop, c, tun, &f)
			if err == nil && metrics != nil {
				metrics.setConfig(f.Config)
			}
			if !errors.Is(err, transparent.ErrBroughtDown) {
				err = nil // logged; the running config is kept
			}
		case <-done:
			done, err = c.deviceStopped(loop, tun, name, done)
		case werr := <-watched:
			watching = false
			err = fmt.Errorf("watch %s: %w", name, werr)
		case <-ticker.C:
			err = c.refresh(loop, tun, f)
		}
		if errors.Is(err, transparent.ErrBroughtDown) {
			return c.broughtDown(stop, watched, watching, name)
		}
		if err != nil && status < 0 {
			status = exitError // down, then exit 2: systemd's Restart=on-failure starts run again
		}
	}
	stop()
	if watching {
		<-watched
	}
	notifySystemd("STOPPING=1")
	dstatus, derr := c.down(context.WithoutCancel(ctx), tun, f)
	return max(status, dstatus), errors.Join(err, derr)
}

// deviceStopped answers the stop of the embedded device that this
// process ran (its DeviceDone channel was closed): another process's down
// (the tunnel's record is gone: ErrBroughtDown) or its link deleted from
// outside (the record is there: the device is made again). Repair tells
// the two apart under the tunnel's lock, after a down in progress has
// finished. Another error ends run (or up) with exit 2, after bringing
// the tunnel down. It returns the channel to wait on next: the new device's, or nil
// when the device is now run by another process (its up made it first).
func (c *command) deviceStopped(ctx context.Context, tun *transparent.Tunnel, name string, stopped <-chan struct{}) (<-chan struct{}, error) {
	err := tun.Repair(ctx)
	switch {
	case err == nil:
		c.logf("[#] %s: the embedded device stopped while the tunnel is up (its link deleted?); made again", name)
	case !errors.Is(err, transparent.ErrBroughtDown):
		err = fmt.Errorf("the embedded device of %s stopped and cannot be made again: %w", name, err)
	}
	next := tun.DeviceDone()
	if next == stopped {
		next = nil
	}
	return next, err
}

// broughtDown ends run after another process brought the tunnel down:
// that down ran the hooks and removed DNS, so run only stops watching.
func (c *command) broughtDown(stop context.CancelFunc, watched <-chan error, watching bool, name string) (int, error) {
	stop()
	if watching {
		<-watched
	}
	notifySystemd("STOPPING=1")
	fmt.Fprintf(c.stdout, "%s was brought down by another process (%s down?); exiting\n", name, program)
	return exitOK, nil
}

// refresh is run's periodic work: stale Endpoint names, then a Repair, a
// backstop for Watch. Transparent host names need nothing here: Watch
// resolves each again when its TTL runs out, and applies the change. It
// returns ErrBroughtDown when the tunnel was brought down by another
// process; other failures are logged, and tried again next time.
func (c *command) refresh(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) error {
	_, err := c.reresolve(ctx, tun, f)
	if !errors.Is(err, transparent.ErrBroughtDown) {
		if err != nil && ctx.Err() == nil {
			c.logf("%s: re-resolve endpoints: %v", program, err)
		}
		err = tun.Repair(ctx)
	}
	if errors.Is(err, transparent.ErrBroughtDown) {
		return err
	}
	if err != nil && ctx.Err() == nil {
		c.logf("%s: up: %s", program, commandText(err))
	}
	return nil
}

// logf prints one line on stderr, control characters escaped.
func (c *command) logf(format string, args ...any) {
	fmt.Fprintln(c.stderr, quoteControl(fmt.Sprintf(format, args...)))
}
