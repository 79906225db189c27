package transparent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// crashChildEnv names the environment variable that turns the test binary
// into a child that runs Up and then waits to be killed.
const crashChildEnv = "WGTRANSPARENT_CRASH_CHILD"

// crashChild runs in the child process: Up with the config and namespace
// given in the environment, report "up", then wait forever. On failure it
// reports "up failed", whether the error is a permission error, and the
// error.
func crashChild() {
	var req struct {
		Config  transparent.Config
		NetNS   string
		Backend transparent.Backend
	}
	if err := json.Unmarshal([]byte(os.Getenv(crashChildEnv)), &req); err != nil {
		fmt.Println("bad request:", err)
		os.Exit(2)
	}
	tun, err := transparent.New(req.Config, transparent.WithNetNS(req.NetNS), transparent.WithBackend(req.Backend))
	if err == nil {
		err = tun.Up(context.Background())
	}
	if err != nil {
		fmt.Printf("up failed: permission=%v: %v\n", errors.Is(err, os.ErrPermission), err)
		os.Exit(1)
	}
	fmt.Println("up")
	select {}
}

// TestDownAfterCrash: a process runs Up and is killed with SIGKILL. An
// embedded device dies with it, a kernel device stays, and so do the
// rules; a fresh Tunnel in this process, with only the config, brings the
// namespace back to how it was.
func TestDownAfterCrash(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	before := dump(t, w.A)

	req, err := json.Marshal(map[string]any{"Config": cfg, "NetNS": w.A.Path, "Backend": testBackend()})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"="+string(req))
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "up" {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("child: %q", line)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA) // the child's tunnel works
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	if wantBackend() == transparent.BackendUserspace {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := w.A.Netlink().LinkByName(cfg.Name); err != nil {
				break // the embedded device died with its process
			}
			if time.Now().After(deadline) {
				t.Fatalf("link %s still there after its process was killed", cfg.Name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	} else if _, err := w.A.Netlink().LinkByName(cfg.Name); err != nil {
		t.Fatalf("kernel link %s gone with its process: %v", cfg.Name, err)
	}
	if testns.Diff(before, dump(t, w.A)) == "" {
		t.Fatal("no rules left behind by the crash; this test would prove nothing")
	}

	fresh := newTunnel(t, cfg, w.A)
	if err := fresh.Down(context.Background()); err != nil {
		t.Fatalf("Down after crash: %v", err)
	}
	expectSameDump(t, w.A, before, "after Down from a fresh Tunnel")
	w.expectClient(t, w.A, "http://203.0.113.2/", publicA)

	// And Up from a fresh Tunnel converges to the full config again.
	if err := fresh.Up(context.Background()); err != nil {
		t.Fatalf("Up after crash: %v", err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
}

// TestNotPermitted: without root's capabilities, Up fails with an error
// that satisfies errors.Is(err, os.ErrPermission) and says what is needed.
// The child runs as user nobody, from a copy of the test binary it can
// read.
func TestNotPermitted(t *testing.T) {
	w := newArticle(t)
	before := dump(t, w.A)
	dir, err := os.MkdirTemp("", "wgtransparent-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "transparent.test")
	data, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	req, err := json.Marshal(map[string]any{"Config": w.configA(transparent.PeerRouteRule), "NetNS": w.A.Path, "Backend": testBackend()})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(bin, "-test.run=^$")
	child.Env = []string{crashChildEnv + "=" + string(req)}
	child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := child.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "up failed: permission=true: ") || !strings.Contains(string(out), "CAP_NET_ADMIN") {
		t.Errorf("child as nobody: %v\n%s\nwant a permission error that says what is needed", err, out)
	}
	expectSameDump(t, w.A, before, "after Up without permission")
}
