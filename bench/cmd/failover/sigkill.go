package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// killResult is what happened to the client's requests after the
// process running A's embedded device (wg-transparent run, Fallback
// block) was SIGKILLed.
type killResult struct {
	refused, lost, other, leaked int
}

// sigkillRun starts `wg-transparent run` for A with Fallback block, waits
// for a request through the tunnel, SIGKILLs it, and runs the client for
// the duration: the kill switch must refuse everything, with no process
// left, and nothing may leave unencrypted. Then `wg-transparent down`
// cleans up.
func sigkillRun(ctx context.Context, w *world, tmp, bin string, d, interval, timeout time.Duration) (killResult, error) {
	var r killResult
	file := filepath.Join(tmp, w.nameA+".conf")
	if err := os.WriteFile(file, wgquick.RenderNative(&wgquick.File{Config: w.configA(transparent.FallbackBlock)}), 0o600); err != nil {
		return r, err
	}
	run := exec.CommandContext(ctx, "ip", "netns", "exec", w.A.Name, bin, "run", file)
	stdout, err := run.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := run.Start(); err != nil {
		return r, err
	}
	defer func() {
		run.Process.Kill()
		run.Wait()
		exec.Command("ip", "netns", "exec", w.A.Name, bin, "down", file).Run()
	}()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if !strings.Contains(line, "is up") {
		return r, fmt.Errorf("wg-transparent run said %q", line)
	}
	c := &client{ns: w.A, interval: interval, timeout: timeout}
	deadline := time.Now().Add(30 * time.Second)
	for c.one(time.Now()) != viaTunnel {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("no request through the tunnel of wg-transparent run within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	p0, err := w.plain()
	if err != nil {
		return r, err
	}
	if err := run.Process.Kill(); err != nil {
		return r, err
	}
	run.Wait()
	killed := time.Now()
	cctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	c.run(cctx)
	p1, err := w.plain()
	if err != nil {
		return r, err
	}
	r.leaked = p1 - p0
	for _, q := range c.since(killed) {
		switch q.outcome {
		case refused:
			r.refused++
		case lost:
			r.lost++
		default:
			r.other++
		}
	}
	return r, nil
}
