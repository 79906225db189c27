package transparent_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl"
)

// embeddedTunnel is newTunnel with the embedded device, the subject of
// these tests whatever backend the run forces.
func embeddedTunnel(t *testing.T, cfg transparent.Config, ns *testns.NS) *transparent.Tunnel {
	t.Helper()
	tun, err := transparent.New(cfg, transparent.WithNetNS(ns.Path), transparent.WithBackend(transparent.BackendUserspace))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

// TestUAPISocketDeleted: someone deletes the UAPI socket of an embedded
// device while it runs. The process running the device serves it again at
// once, so that wgctrl and another Tunnel (another process would do the
// same) reach the device, and an Up in that process right after a
// deletion repairs it before reading the device; Check is clean. Down
// still removes the socket for good.
func TestUAPISocketDeleted(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	owner := embeddedTunnel(t, cfg, w.A)
	ctx := context.Background()
	if err := owner.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	sock := "/var/run/wireguard/" + cfg.Name + ".sock"

	// Deleted: served again without anyone asking.
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	reachable := func() bool {
		var ok bool
		w.A.Do(func() error {
			c, err := wgctrl.New()
			if err != nil {
				return err
			}
			defer c.Close()
			d, err := c.Device(cfg.Name)
			ok = err == nil && d.PublicKey == cfg.PrivateKey.PublicKey()
			return nil
		})
		return ok
	}
	for deadline := time.Now().Add(5 * time.Second); !reachable(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the deleted UAPI socket was not served again within 5s")
		}
	}
	other := embeddedTunnel(t, cfg, w.A)
	if err := other.Check(ctx); err != nil {
		t.Errorf("Check from another Tunnel after the socket was served again: %v", err)
	}

	// Deleted right before an Up of the owner: Up repairs it first.
	for range 5 {
		if err := os.Remove(sock); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err := owner.Up(ctx); err != nil {
			t.Fatalf("Up after the socket was deleted: %v", err)
		}
		if err := owner.Check(ctx); err != nil {
			t.Errorf("Check: %v", err)
		}
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)

	if err := owner.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // a socket served again after Down would be back by now
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the UAPI socket is there after Down (%v)", err)
	}
}

// TestUAPISocketOthersKept: the UAPI socket's path is shared by all
// namespaces. When another process's socket takes the place of an
// embedded device's (renamed over it: an embedded device of the same name
// in another namespace, started after ours was deleted), the device's
// process neither removes that file when it serves its own again nor when
// it goes down.
func TestUAPISocketOthersKept(t *testing.T) {
	w := newArticle(t)
	cfg := w.configA(transparent.PeerRouteRule)
	owner := embeddedTunnel(t, cfg, w.A)
	ctx := context.Background()
	if err := owner.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	sock := "/var/run/wireguard/" + cfg.Name + ".sock"
	theirs, err := net.Listen("unix", sock+".other")
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	go func() { // answers as a device without settings would
		for {
			c, err := theirs.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			bufio.NewReader(c).ReadString('\n')
			c.Write([]byte("errno=0\n\n"))
			c.Close()
		}
	}()
	if err := os.Rename(sock+".other", sock); err != nil {
		t.Fatal(err)
	}
	var want syscall.Stat_t
	if err := syscall.Lstat(sock, &want); err != nil {
		t.Fatal(err)
	}
	defer func() {
		var st syscall.Stat_t
		if syscall.Lstat(sock, &st) == nil && st.Ino == want.Ino {
			os.Remove(sock)
		}
	}()
	kept := func(when string) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Lstat(sock, &st); err != nil || st.Ino != want.Ino {
			t.Errorf("%s, the other process's socket file is gone or replaced (%v)", when, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the device's process has seen its file replaced by now
	kept("after the device's file was replaced")
	if err := owner.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	kept("after Down")
}
