package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// errCapped reports a wg-quick command that ran longer than the cap.
var errCapped = errors.New("over the time cap")

// runWGQuick measures wg-quick on A with the rendered config: up, down and
// up with the changed config (wg-quick refuses to bring up an existing
// interface, so a change is a down and an up), and down. It has no no-op
// up: that row is n/a. After a command over the cap, the rest of the round
// is skipped.
func runWGQuick(ctx context.Context, b *bench, r *round) ([]sample, error) {
	name := b.nameA("wg-quick")
	files := make([]string, 2)
	for i, c := range []transparent.Config{r.cfg, r.changedCfg} {
		dir := filepath.Join(b.tmp, fmt.Sprintf("conf%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		files[i] = filepath.Join(dir, name+".conf")
		if err := os.WriteFile(files[i], wgquick.Render(&wgquick.File{Config: c}), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", files[i], err)
		}
	}
	run := func(verb, file string) func() error {
		return func() error { return b.wgQuick(ctx, r.w.a.Name, verb, file, r.shim != nil) }
	}
	steps := []struct {
		op string
		fn func() error
	}{
		{opUp, run("up", files[0])},
		{opNoop, nil},
		{opChange, func() error {
			if err := run("down", files[0])(); err != nil {
				return err
			}
			return run("up", files[1])()
		}},
		{opDown, run("down", files[1])},
	}
	var out []sample
	for i, s := range steps {
		if s.fn == nil {
			out = append(out, r.placeholder("wg-quick", s.op, statusNA))
			continue
		}
		smp, err := r.measure("wg-quick", s.op, s.fn)
		if errors.Is(err, errCapped) {
			smp.status, smp.seconds = statusSkipped, b.cap.Seconds()
			out = append(out, smp)
			for _, rest := range steps[i+1:] {
				status := statusSkipped
				if rest.fn == nil {
					status = statusNA
				}
				out = append(out, r.placeholder("wg-quick", rest.op, status))
			}
			return out, err
		}
		if err != nil {
			return out, fmt.Errorf("wg-quick %s: %w", s.op, err)
		}
		out = append(out, smp)
	}
	return out, nil
}

// placeholder is a row for an operation that was not run.
func (r *round) placeholder(impl, op, status string) sample {
	return sample{impl: impl, snat: r.snat, n: r.n, op: op, rep: r.rep, counted: r.shim != nil, status: status}
}

// wgQuick runs `ip netns exec NS wg-quick VERB FILE` with the built
// wireguard-go as the userspace implementation; counted runs the shim
// directory's copy of wg-quick (see newShim). It kills the process group
// (wg-quick and what it started) after the cap. Output goes to a log file,
// not a pipe: the daemonized wireguard-go keeps its inherited descriptors
// open, and a pipe would never reach end of file.
func (b *bench) wgQuick(ctx context.Context, ns, verb, file string, counted bool) error {
	ctx, cancel := context.WithTimeout(ctx, b.cap)
	defer cancel()
	logPath := filepath.Join(b.tmp, "wg-quick.log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	wgQuick := b.wgQuickPath
	if counted {
		wgQuick = b.shim.wgQuick
	}
	cmd := exec.CommandContext(ctx, b.ipPath, "netns", "exec", ns, wgQuick, verb, file)
	cmd.Env = append(os.Environ(), "WG_QUICK_USERSPACE_IMPLEMENTATION="+b.wireguardGo)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("wg-quick %s: %w (%s)", verb, errCapped, b.cap)
	}
	if err != nil {
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("wg-quick %s: %w; last output:\n%s", verb, err, tail(string(out), 10))
	}
	return nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
