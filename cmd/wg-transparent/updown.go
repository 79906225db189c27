package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// stopSignals end a foreground up or run: the tunnel goes down. SIGHUP
// is not among them: it reloads the file (reloader), as daemons do.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// up does what wg-quick's up does, in its order: PreUp, the tunnel (the
// library's Up), DNS, PostUp. A failing PreUp changes nothing; a failing
// step after it undoes what this up made (DNS, then the library's Down,
// which also removes the record), unless the tunnel was up already, which
// up then leaves up.
//
// bring brings the tunnel itself up: the library's Up, or, for up with an
// embedded device, the background process that runs it (background.go).
func (c *command) up(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File, bring func(context.Context) error) error {
	name := f.Config.Name
	dev, _ := tun.Device()
	existed := dev != nil
	if err := c.hooks("PreUp", name, f.PreUp); err != nil {
		return err
	}
	if err := bring(ctx); err != nil {
		return err
	}
	err := c.setDNS(f)
	if err == nil {
		err = c.hooks("PostUp", name, f.PostUp)
	}
	if err == nil {
		return nil
	}
	if existed {
		return fmt.Errorf("%w (%s was up before; left up)", err, name)
	}
	fmt.Fprintf(c.stderr, "%s: %s: bringing %s down again\n", program, commandText(err), name)
	errs := []error{err}
	if derr := c.unsetDNS(f); derr != nil {
		errs = append(errs, derr)
	}
	if derr := tun.Down(context.WithoutCancel(ctx)); derr != nil {
		errs = append(errs, fmt.Errorf("roll back: %w", derr))
	}
	return errors.Join(errs...)
}

// upVerb is the verb up. It returns once the tunnel is up, as wg-quick's
// does: with kernel WireGuard, after up in this process; with an embedded
// device, after a background process of its own has brought the tunnel
// up and keeps the device (upBackground). With --foreground an embedded
// device is run by this process, which stays (upForeground).
func (c *command) upVerb(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	if c.deviceProcess {
		return c.runDevice(ctx, tun, f)
	}
	if !c.foreground {
		// Asked first: a link up would refuse (such as a name held by
		// another namespace's embedded device) is refused before PreUp.
		b, err := tun.UpBackend()
		if err != nil {
			return exitError, err
		}
		if b == transparent.BackendUserspace {
			return c.upBackground(ctx, tun, f)
		}
	}
	return c.upForeground(ctx, tun, f)
}

// upForeground is up in this process: with kernel WireGuard it returns
// once the tunnel is up; with an embedded device (--foreground), which
// lives in this process, it waits for a stop signal and then brings the
// tunnel down; SIGHUP reloads the file meanwhile (reloader). Another
// process's down ends it (exit 0); a device whose link was deleted from
// outside is made again, as run does.
func (c *command) upForeground(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	sig, hup, stop := keeperSignals()
	defer stop()
	if err := c.up(ctx, tun, f, tun.Up); err != nil {
		return exitError, err
	}
	var rl reloader
	if tun.DeviceDone() == nil {
		select {
		case s := <-sig: // during up: the operator wants it down again
			fmt.Fprintf(c.stderr, "[#] %s during up: bringing %s down\n", s, name)
			return c.down(ctx, tun, f)
		case <-hup: // during up: the file may have changed since up read it
			if err := rl.reload(ctx, c, tun, &f); err != nil {
				return exitError, err
			}
		default:
		}
		fmt.Fprintf(c.stdout, "%s is up (%s WireGuard device); `%s down %s` removes it\n", name, tun.Backend(), program, c.file)
		return exitOK, nil
	}
	// This process keeps the tunnel now: a run started meanwhile is
	// refused. A run that got there first keeps it, and this up stays
	// only for its device.
	if release, err := tun.Keep("up"); err == nil {
		defer release()
		rl.ready(c, tun)
	}
	fmt.Fprintf(c.stdout, "%s is up (embedded WireGuard device, run by this process); staying in the foreground until SIGINT or SIGTERM (SIGHUP reloads %s)\n", name, c.file)
	return c.holdDevice(ctx, tun, f, sig, hup, &rl)
}

// holdDevice keeps the embedded device this process runs until a stop
// signal on sig (then the tunnel goes down) or another process's down
// (exit 0); a device whose link was deleted from outside is made again,
// and a signal on hup reloads the file (rl).
func (c *command) holdDevice(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File, sig, hup <-chan os.Signal, rl *reloader) (int, error) {
	name := f.Config.Name
	for done := tun.DeviceDone(); ; {
		select {
		case <-hup:
			if err := rl.reload(ctx, c, tun, &f); errors.Is(err, transparent.ErrBroughtDown) {
				fmt.Fprintf(c.stdout, "%s was brought down by another process (%s down?); exiting\n", name, program)
				return exitOK, nil
			}
		case s := <-sig:
			fmt.Fprintf(c.stderr, "[#] %s: bringing %s down\n", s, name)
			return c.down(ctx, tun, f)
		case <-done:
			var err error
			done, err = c.deviceStopped(ctx, tun, name, done)
			switch {
			case errors.Is(err, transparent.ErrBroughtDown):
				fmt.Fprintf(c.stdout, "%s was brought down by another process (%s down?); exiting\n", name, program)
				return exitOK, nil
			case err != nil:
				status, derr := c.down(ctx, tun, f)
				return max(status, exitError), errors.Join(err, derr)
			case done == nil:
				fmt.Fprintf(c.stdout, "%s: its embedded device is run by another process now; exiting\n", name)
				return exitOK, nil
			}
		}
	}
}

// down does what wg-quick's down does: PreDown, with SaveConfig = true the
// running device saved into the file (save), the tunnel (the library's
// Down), DNS, PostDown. A failing hook or save is reported and down goes
// on; the exit status is then 2.
func (c *command) down(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	errs := c.downHooks("PreDown", name, f.PreDown)
	if f.SaveConfig {
		if err := c.saveConfig(tun, f); err != nil && !errors.Is(err, errNotUp) && !errors.Is(err, transparent.ErrDeviceGone) {
			errs = append(errs, err)
		}
	}
	if err := tun.Down(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := c.unsetDNS(f); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.downHooks("PostDown", name, f.PostDown)...)
	if len(errs) > 0 {
		return exitError, errors.Join(errs...)
	}
	fmt.Fprintf(c.stdout, "%s is down\n", name)
	return exitOK, nil
}
