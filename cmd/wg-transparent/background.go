package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.org/x/sys/unix"
)

// An embedded (wireguard-go) device lives in the process that made it.
// So that up returns, as wg-quick's does, while the device stays, up
// starts a background process of its own, as wireguard-go does: this
// binary again, with the same file and flags and deviceProcessFlag, in a
// new session (no terminal, so no SIGHUP when it closes; stdin
// /dev/null). That process brings the tunnel up (the library's Up, with
// its rollback), writes the `[#]` lines and logs on its stdout and stderr,
// which up relays, and reports on the pipe at deviceReportFD: its pid, or
// the error. Once up, it points its stdout and stderr at /dev/null and
// keeps the device: a stop signal brings the tunnel down (hooks and DNS
// included), another process's down ends it (exit 0), and a deleted link
// is made again. up itself runs the hooks and DNS around it, in the
// foreground, and rolls back as before.

// deviceProcessFlag makes this process the background process of an up;
// not for people, and not in the usage.
const deviceProcessFlag = "device-process"

// deviceReportFD is the descriptor of the report pipe in the background
// process: the first of exec.Cmd's ExtraFiles.
const deviceReportFD = 3

// relayGrace bounds how long up relays the background process's output
// after its report: what it wrote before is read at once, and a
// descendant that kept the pipe open cannot hold up.
const relayGrace = 500 * time.Millisecond

// deviceReport is what the background process tells up, as one JSON
// object: its pid once the tunnel is up (0 when it runs no device: another
// process does), or why it is not.
type deviceReport struct {
	PID   int    `json:"pid"`
	Error string `json:"error,omitempty"`
}

// upBackground is up with an embedded device: PreUp, the background
// process that brings the tunnel up and keeps its device, DNS, PostUp.
// It returns once the tunnel is up, or failed and was rolled back.
func (c *command) upBackground(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	name := f.Config.Name
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, stopSignals...)
	defer signal.Stop(sig)
	var pid int
	err := c.up(ctx, tun, f, func(context.Context) (err error) {
		pid, err = c.startDevice()
		return err
	})
	if err != nil {
		return exitError, err
	}
	select {
	case s := <-sig: // during up: the operator wants it down again
		fmt.Fprintf(c.stderr, "[#] %s during up: bringing %s down\n", s, name)
		return c.down(ctx, tun, f)
	default:
	}
	if pid == 0 {
		fmt.Fprintf(c.stdout, "%s is up (embedded WireGuard device, run by another process); `%s down %s` removes it\n", name, program, c.file)
	} else {
		fmt.Fprintf(c.stdout, "%s is up (embedded WireGuard device, run by background process %d); `%s down %s` removes it\n", name, pid, program, c.file)
	}
	return exitOK, nil
}

// startDevice starts the background process and waits for its report,
// relaying its output meanwhile. It returns the process's pid, or 0 when
// the device was run by another process already.
func (c *command) startDevice() (int, error) {
	file, err := filepath.Abs(c.file) // the process runs in /
	if err != nil {
		return 0, fmt.Errorf("start the embedded device's process: %w", err)
	}
	args := []string{"up", file, "--" + deviceProcessFlag, "--backend", "userspace"}
	if c.netns != "" {
		netns, err := filepath.Abs(c.netnsPath())
		if err != nil {
			return 0, fmt.Errorf("start the embedded device's process: %w", err)
		}
		args = append(args, "--netns", netns)
	}
	if c.verbose {
		args = append(args, "-v")
	}
	// /proc/self/exe is this binary even when its file was replaced
	// (an upgrade) since this process started.
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = os.Args[0]
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("start the embedded device's process: %w", err)
	}
	defer reportR.Close()
	r, err := c.relay(cmd)
	if err != nil {
		reportW.Close()
		return 0, err
	}
	cmd.ExtraFiles = []*os.File{reportW}
	err = cmd.Start()
	reportW.Close()
	r.started() // the process holds its own copies of the write ends
	if err != nil {
		r.stop()
		return 0, fmt.Errorf("start the embedded device's process: %w", err)
	}
	var rep deviceReport
	derr := json.NewDecoder(reportR).Decode(&rep)
	r.stop()
	switch {
	case derr != nil:
		werr := cmd.Wait()
		return 0, fmt.Errorf("the embedded device's process ended before the tunnel was up (%v)", werr)
	case rep.Error != "":
		cmd.Wait()
		return 0, errors.New(rep.Error)
	}
	cmd.Process.Release() // it stays, with the device
	return rep.PID, nil
}

// relays copy the background process's stdout and stderr to up's.
type relays struct {
	read, write []*os.File
	wg          sync.WaitGroup
}

// relay gives cmd pipes for its stdout and stderr, copied to c's.
func (c *command) relay(cmd *exec.Cmd) (*relays, error) {
	r := &relays{}
	for _, to := range []io.Writer{c.stdout, c.stderr} {
		pr, pw, err := os.Pipe()
		if err != nil {
			r.started()
			r.stop()
			return nil, fmt.Errorf("start the embedded device's process: %w", err)
		}
		r.read, r.write = append(r.read, pr), append(r.write, pw)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			io.Copy(to, pr)
		}()
	}
	cmd.Stdout, cmd.Stderr = r.write[0], r.write[1]
	return r, nil
}

// started closes this process's write ends, once the process has its own.
func (r *relays) started() {
	for _, w := range r.write {
		w.Close()
	}
}

// stop ends the copies once what was written is read (the process closed
// its ends), or relayGrace after, and closes the pipes.
func (r *relays) stop() {
	for _, p := range r.read {
		p.SetReadDeadline(time.Now().Add(relayGrace))
	}
	r.wg.Wait()
	for _, p := range r.read {
		p.Close()
	}
}

// runDevice is the background process of an up (deviceProcessFlag): the
// library's Up, then the report, then it keeps the device until a stop
// signal or another process's down, reloading the file on SIGHUP (the
// reload verb's signal) as run does. With no device to keep (it runs in
// another process), it reports and exits.
func (c *command) runDevice(ctx context.Context, tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	if _, err := unix.FcntlInt(deviceReportFD, unix.F_GETFD, 0); err != nil {
		return exitError, fmt.Errorf("--%s: only up starts such a process", deviceProcessFlag)
	}
	report := os.NewFile(deviceReportFD, "report")
	send := func(rep deviceReport) {
		json.NewEncoder(report).Encode(rep) // a gone up (killed) does not stop the device
		report.Close()
	}
	sig, hup, stop := keeperSignals()
	defer stop()
	if err := tun.Up(ctx); err != nil {
		send(deviceReport{Error: err.Error()})
		return exitError, nil
	}
	if tun.DeviceDone() == nil {
		send(deviceReport{})
		return exitOK, nil
	}
	// This process keeps the tunnel now: a run started meanwhile is
	// refused. A run that got there first keeps it, and this process
	// stays only for its device.
	var rl reloader
	if release, err := tun.Keep("up"); err == nil {
		defer release()
		rl.ready(c, tun) // the reload verb signals it, and reads its answer
	}
	if err := quiet(); err != nil {
		c.logf("%s: %v", program, err)
	}
	send(deviceReport{PID: os.Getpid()})
	return c.holdDevice(ctx, tun, f, sig, hup, &rl)
}

// quiet points stdout and stderr at /dev/null: up has stopped relaying
// them, and no terminal is left.
func quiet() error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer null.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup2(int(null.Fd()), fd); err != nil {
			return fmt.Errorf("point descriptor %d at %s: %w", fd, os.DevNull, err)
		}
	}
	return nil
}
