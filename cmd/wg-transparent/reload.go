package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.org/x/sys/unix"
)

// A reload re-reads the file and applies only the difference, as `wg
// syncconf` does for a device: the library's SetConfig, then an Up, whose
// plan never leaves a moment in which a destination that stays
// transparent leaves over the Internet, and whose failure rolls the
// kernel back. Hooks are not run again. A process that keeps the tunnel
// (run, a foreground up) reloads on SIGHUP and reports each reload in its
// keeper lock (Tunnel.KeeperStatus) as "reload N: ok" or "reload N:
// failed: why", which the reload verb waits for; it reports "reload 0:
// ready" once it reloads on SIGHUP at all, so that the verb never
// signals a process that SIGHUP would end, and "reload N: running"
// before it reads the file, so that a verb whose signal came during
// reload N waits for N+1, the first reload to read the file after it.

// reloadSignal asks a process that keeps the tunnel to reload its file.
var reloadSignal os.Signal = syscall.SIGHUP

// keeperSignals subscribes a process that keeps the tunnel to the stop
// signals (sig: bring the tunnel down) and the reload signal (hup), before
// its up, so that a signal during up is acted on after it; stop ends both.
func keeperSignals() (sig, hup <-chan os.Signal, stop func()) {
	s, h := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(s, stopSignals...)
	signal.Notify(h, reloadSignal)
	return s, h, func() { signal.Stop(s); signal.Stop(h) }
}

// reloadStatusPrefix starts every status line of a keeper that reloads.
const reloadStatusPrefix = "reload "

// reloadWait bounds how long the reload verb waits for the keeping
// process to apply the file: an Up that looks host names up (a timeout
// of its own each) and waits for the tunnel's lock behind another
// operation takes seconds, so a minute means that process is stuck.
const reloadWait = time.Minute

// reloadPoll is how often the reload verb looks for the keeper's answer.
const reloadPoll = 20 * time.Millisecond

// reloader is the reload state of a process that keeps the tunnel.
type reloader struct {
	keeps bool // this process keeps the tunnel (Keep): it reports to the reload verb
	count int  // reloads answered so far
}

// ready tells the reload verb that this process reloads on SIGHUP.
func (r *reloader) ready(c *command, tun *transparent.Tunnel) {
	r.keeps = true
	if err := tun.KeeperStatus(fmt.Sprintf("%s%d: ready", reloadStatusPrefix, r.count)); err != nil {
		c.logf("%s: %v", program, err)
	}
}

// reload re-reads the file and applies it to the running tunnel; *f is
// the file in force, replaced on success. A file that cannot be read or
// used keeps the running config, and the error says why (file:line for
// the file's own problems). The outcome is reported to the reload verb
// when this process keeps the tunnel.
func (r *reloader) reload(ctx context.Context, c *command, tun *transparent.Tunnel, f **wgquick.File) error {
	r.count++
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	// As Type=notify-reload wants it; harmless under Type=notify.
	notifySystemd(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", now.Nano()/1000))
	defer notifySystemd("READY=1")
	if r.keeps {
		if err := tun.KeeperStatus(fmt.Sprintf("%s%d: %s", reloadStatusPrefix, r.count, reloadRunning)); err != nil {
			c.logf("%s: %v", program, err)
		}
	}
	err := c.reload(ctx, tun, f)
	status := fmt.Sprintf("%s%d: ok", reloadStatusPrefix, r.count)
	if err != nil {
		status = fmt.Sprintf("%s%d: failed: %v", reloadStatusPrefix, r.count, err)
		if errors.Is(err, errReloadApplied) {
			c.logf("%s: reload: %v", program, err)
		} else {
			c.logf("%s: reload: %v; the running config is kept", program, err)
		}
	} else {
		c.logf("[#] reloaded %s", c.file)
	}
	if !r.keeps {
		return err
	}
	if serr := tun.KeeperStatus(status); serr != nil {
		c.logf("%s: %v", program, serr)
	}
	return err
}

// reload applies the file's current content to tun, whose config is
// c.cfg (from the file *f). On success c.cfg and *f are the new ones; on
// failure the tunnel's config is c.cfg again and the kernel what it was
// (the library's Up rolls back), but for a failure of the new DNS, after
// the config was applied (errReloadApplied).
func (c *command) reload(ctx context.Context, tun *transparent.Tunnel, f **wgquick.File) error {
	nf, cfg, err := c.loadConfig(ctx)
	if err != nil {
		return err
	}
	if err := tun.SetConfig(cfg); err != nil {
		return err
	}
	if err := tun.Repair(ctx); err != nil {
		if rerr := tun.SetConfig(c.cfg); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	c.cfg = cfg
	old := *f
	*f = nf
	if err := c.reloadDNS(old, nf); err != nil {
		return fmt.Errorf("%w, but not its DNS: %w", errReloadApplied, err)
	}
	return nil
}

// errReloadApplied marks a reload's error that came after the new config
// was applied (its DNS): the running config is then the new one.
var errReloadApplied = errors.New("the new config is applied")

// loadConfig reads the file and makes the library's config of it, as the
// command does before any verb.
func (c *command) loadConfig(ctx context.Context) (*wgquick.File, transparent.Config, error) {
	f, err := c.load()
	if err != nil {
		return nil, transparent.Config{}, err
	}
	cfg, err := c.tunnelConfig(ctx, f)
	if err != nil {
		return nil, transparent.Config{}, err
	}
	if err := c.defaultMTU(f, &cfg); err != nil {
		return nil, transparent.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, transparent.Config{}, err
	}
	return f, cfg, nil
}

// reloadVerb is the verb reload: the file (read and checked already, so
// that a bad one is reported here and changes nothing) goes to the
// process that keeps the tunnel, which applies it and reports back;
// without such a process, this one applies it, as up would, without
// bringing anything down or running hooks.
func (c *command) reloadVerb(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	release, err := tun.Keep("reload")
	var kept *transparent.KeptError
	switch {
	case errors.As(err, &kept):
		return c.signalKeeper(ctx, tun, kept)
	case err == nil:
		defer release()
	default:
		return exitError, err
	}
	dev, err := tun.Device()
	if err != nil {
		return exitError, err
	}
	if dev == nil {
		return exitError, fmt.Errorf("reload %s: the tunnel is not up; bring it up with `%s up %s`", name, program, c.file)
	}
	if err := tun.Up(ctx); err != nil {
		return exitError, fmt.Errorf("reload %s: %w (the running config is kept)", name, err)
	}
	if err := c.reloadDNS(nil, f); err != nil {
		return exitError, fmt.Errorf("reload %s: %w, but not its DNS: %w", name, errReloadApplied, err)
	}
	fmt.Fprintf(c.stdout, "%s reloaded from %s\n", name, c.file)
	return exitOK, nil
}

// signalKeeper asks the process that keeps the tunnel to reload (SIGHUP)
// and waits for its report.
func (c *command) signalKeeper(ctx context.Context, tun *transparent.Tunnel, kept *transparent.KeptError) (int, error) {
	name := kept.Name
	before, ok := reloadCount(kept.Status)
	if kept.PID > 0 && kept.Status == "" {
		return exitError, fmt.Errorf("reload %s: it is kept by %s, which has not said yet that it reloads (it is starting, or another reload holds the tunnel); try again in a moment", name, kept.Holder)
	}
	if kept.PID <= 0 || !ok {
		return exitError, fmt.Errorf("reload %s: it is kept by %s, which does not reload on SIGHUP; restart it to apply the file", name, kept.Holder)
	}
	p, err := os.FindProcess(kept.PID)
	if err == nil {
		err = p.Signal(reloadSignal)
	}
	if err != nil {
		return exitError, fmt.Errorf("reload %s: signal %s: %w", name, kept.Holder, err)
	}
	fmt.Fprintf(c.stderr, "[#] kill -HUP %d (%s keeps %s)\n", kept.PID, kept.Holder, name)
	wait, cancel := context.WithTimeout(ctx, reloadWait)
	defer cancel()
	for {
		release, err := tun.Keep("reload")
		if err == nil {
			release()
			return exitError, fmt.Errorf("reload %s: %s ended before it reported the reload", name, kept.Holder)
		}
		if errors.As(err, &kept) {
			if result, done := reloadOutcome(kept.Status, before); done {
				if result != "ok" {
					return exitError, fmt.Errorf("reload %s by %s: %s", name, kept.Holder, strings.TrimPrefix(result, "failed: "))
				}
				fmt.Fprintf(c.stdout, "%s reloaded from %s by %s\n", name, c.file, kept.Holder)
				return exitOK, nil
			}
		} else {
			return exitError, err
		}
		select {
		case <-wait.Done():
			return exitError, fmt.Errorf("reload %s: %s did not report within %s", name, kept.Holder, reloadWait)
		case <-time.After(reloadPoll):
		}
	}
}

// reloadRunning is the result part of a keeper's status while it reloads.
const reloadRunning = "running"

// reloadOutcome is the result ("ok", "failed: why") of the first reload
// numbered above before, once status reports it finished. A verb takes
// before from the status it read before signalling: a reload running
// then (its number) may have read the file before the verb was called.
func reloadOutcome(status string, before int) (result string, done bool) {
	n, ok := reloadCount(status)
	if !ok || n <= before {
		return "", false
	}
	result = strings.TrimPrefix(status, reloadStatusPrefix+strconv.Itoa(n)+": ")
	return result, result != reloadRunning
}

// reloadCount reads the reload number from a keeper's status, "reload N:
// ...".
func reloadCount(status string) (int, bool) {
	rest, ok := strings.CutPrefix(status, reloadStatusPrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(digits)
	return n, ok && err == nil
}
