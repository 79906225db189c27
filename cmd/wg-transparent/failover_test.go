package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
)

// metricValue finds the sample of name whose labels contain every one of
// labels (`state="tunnel"`) in a scrape, and returns its value as written.
func metricValue(scrape, name string, labels ...string) (string, bool) {
	for _, line := range strings.Split(scrape, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			return line[strings.LastIndexByte(line, ' ')+1:], true
		}
	}
	return "", false
}

// TestRunFailoverMetrics: run with Fallback = internet and short health
// settings, its metrics scraped while the WireGuard path is cut at the
// router and healed: the peer's state goes from tunnel to failed-over and
// back, with a failover and a failback counted; meanwhile B's public
// address is reached over the Internet, check and show (from other
// processes) report the peer failed over since the transition, and run
// logs each transition with its attributes.
func TestRunFailoverMetrics(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	w := testns.Article(t)
	keyA, keyB := genKey(t), genKey(t)
	suffix := uniqueName("")
	endpointB(t, w, keyA, keyB)

	file := filepath.Join(t.TempDir(), "wgfxa"+suffix+".conf")
	conf := `[Interface]
PrivateKey = ` + keyA.String() + `
Address = 10.0.0.1/32
ListenPort = 51821
Table = 123
HealthInterval = 100ms
HealthFailAfter = 5
HealthRecoverAfter = 2

[Peer]
PublicKey = ` + keyB.PublicKey().String() + `
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2
Fallback = internet
`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// run inside A's namespace, so that its metrics listen there.
	run := exec.Command("ip", "netns", "exec", w.A.Name, bin, "run", file, "--metrics", "127.0.0.1:9586")
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		run.Process.Kill()
		run.Wait()
	}()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); !strings.Contains(line, "is up") {
		t.Fatalf("run said %q\n%s", line, logs.String())
	}
	key := `public_key="` + keyB.PublicKey().String() + `"`
	scrape := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		body, err := testns.Get(ctx, w.A, "http://127.0.0.1:9586/metrics")
		if err != nil {
			t.Fatalf("scrape: %v\n%s", err, logs.String())
		}
		return body
	}
	waitMetric := func(what string, within time.Duration, cond func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			s := scrape()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s; last scrape:\n%s\nrun said:\n%s", what, within, s, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The state is recorded, then applied: a request right after the
	// scrape may still take the old way, so it is tried for a while.
	reaches := func(when string, want netip.Addr) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := testns.Get(ctx, w.A, "http://203.0.113.2/")
			cancel()
			if err == nil && w.Server.Last() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %v, B logged %s, want %s", when, err, w.Server.Last(), want)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	is := func(name, want string, labels ...string) func(string) bool {
		return func(s string) bool { v, ok := metricValue(s, name, labels...); return ok && v == want }
	}
	waitMetric("through the tunnel", 10*time.Second, func(s string) bool {
		_, hs := metricValue(s, "wireguard_latest_handshake_delay_seconds", key)
		return hs && is("wgtransparent_peer_state", "1", key, `state="tunnel"`)(s)
	})
	reaches("before the cut", netip.MustParseAddr("10.0.0.1"))

	if err := w.Router.CutUDP("wgfxcut", 51822); err != nil {
		t.Fatal(err)
	}
	s := waitMetric("failed over", 10*time.Second, is("wgtransparent_peer_state", "1", key, `state="failed-over"`))
	for _, m := range []struct{ name, want string }{
		{"wgtransparent_peer_failovers_total", "1"},
		{"wgtransparent_peer_healthy", "0"},
		{"wgtransparent_up", "1"},
	} {
		if v, _ := metricValue(s, m.name); v != m.want {
			t.Errorf("while cut, %s = %q, want %s", m.name, v, m.want)
		}
	}
	if _, ok := metricValue(s, "wgtransparent_peer_state_since_seconds", key); !ok {
		t.Errorf("while cut, no wgtransparent_peer_state_since_seconds")
	}
	reaches("while cut (over the Internet)", netip.MustParseAddr("198.51.100.1"))
	other := verbOn(t, bin, file, w.A.Name)
	var check checkJSON
	if err := json.Unmarshal([]byte(other(0, "check", "--json")), &check); err != nil || !check.InSync || len(check.Peers) != 1 ||
		check.Peers[0].State != "failed-over" || check.Peers[0].Fallback != "internet" || check.Peers[0].Healthy || check.Peers[0].Since == "" {
		t.Errorf("check --json while failed over: %v %+v", err, check)
	}
	var show showJSON
	if err := json.Unmarshal([]byte(other(0, "show", "--json")), &show); err != nil || len(show.Peers) != 1 || show.Peers[0].State != "failed-over" || show.Peers[0].Since != check.Peers[0].Since {
		t.Errorf("show --json while failed over: %v %+v", err, show)
	}
	if out := other(0, "show"); !strings.Contains(out, "(fallback internet): failed-over since "+check.Peers[0].Since) {
		t.Errorf("show while failed over:\n%s", out)
	}
	var plan planJSON
	if err := json.Unmarshal([]byte(other(0, "plan", "--json")), &plan); err != nil || len(plan.Peers) != 1 || plan.Peers[0].State != "failed-over" {
		t.Errorf("plan --json while failed over: %v %+v", err, plan)
	}

	if err := w.Router.HealUDP("wgfxcut"); err != nil {
		t.Fatal(err)
	}
	// Back once WireGuard has a session again (its handshake retry) and
	// the peer has answered for RecoverAfter intervals.
	s = waitMetric("failed back", 30*time.Second, is("wgtransparent_peer_state", "1", key, `state="tunnel"`))
	if v, _ := metricValue(s, "wgtransparent_peer_failbacks_total", key); v != "1" {
		t.Errorf("after the heal, failbacks = %q, want 1", v)
	}
	reaches("after the heal", netip.MustParseAddr("10.0.0.1"))
	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, run, "run after SIGTERM"); err != nil {
		t.Errorf("run after SIGTERM: %v\n%s", err, logs.String())
	}
	out := logs.String()
	for _, want := range []string{
		"[#] metrics on http://127.0.0.1:9586/metrics",
		"[#] peer failed over peer=" + keyB.PublicKey().String() + " state=failed-over since=20",
		"[#] peer failed back into the tunnel peer=" + keyB.PublicKey().String() + " state=tunnel since=20",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run's log lacks %q:\n%s", want, out)
		}
	}
}
