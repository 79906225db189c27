//go:build linux

package transparent

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// healthFake is the article's A with a Fallback on the fake kernel, up,
// and its health check, whose probes go nowhere (send reports err).
func healthFake(t *testing.T, sendErr error) (*Tunnel, *healthWatch) {
	t.Helper()
	k := newScenarioFake(false)
	cfg := articleA(PeerRouteRule)
	cfg.Peers[0].Fallback = FallbackInternet
	cfg.Health = HealthCheck{Interval: MinHealthInterval, FailAfter: 2, RecoverAfter: 1}
	tun, err := newFakeTunnel(cfg, k, filepath.Join(t.TempDir(), "state", "netns-fake"), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	if err := tun.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := newHealthWatch(tun)
	h.send = func(string, []netip.Addr) error { return sendErr }
	return tun, h
}

// recordedState is the peer's state in the tunnel's record.
func recordedState(t *testing.T, tun *Tunnel) PeerState {
	t.Helper()
	rec, err := tun.readRecord()
	if err != nil {
		t.Fatal(err)
	}
	pr, ok := rec.peerState(tun.cfg.Peers[0].PublicKey)
	if !ok {
		return PeerThroughTunnel
	}
	return pr.State
}

// TestHealthRetriesUnrecordedTransition: a failover whose record write
// fails is not lost: the next interval records and applies it, although
// the judgement did not change again since.
func TestHealthRetriesUnrecordedTransition(t *testing.T) {
	tun, h := healthFake(t, nil)
	ctx := context.Background()
	if err := h.tick(ctx); err != nil { // the baseline
		t.Fatal(err)
	}
	if err := h.tick(ctx); err != nil { // one miss
		t.Fatal(err)
	}
	// The record cannot be read or written for the next interval: a
	// directory in its place.
	data, err := os.ReadFile(tun.recordPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(tun.recordPath()); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tun.recordPath(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := h.tick(ctx); err == nil { // the second miss: unhealthy, not recorded
		t.Fatal("the transition was recorded in a directory")
	}
	if err := os.Remove(tun.recordPath()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tun.recordPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := recordedState(t, tun); got != PeerFailedOver {
		t.Errorf("after the record came back: %v, want %v", got, PeerFailedOver)
	}
	if err := tun.Check(ctx); err != nil {
		t.Errorf("Check after the retried transition: %v", err)
	}
}

// TestHealthBlindWithoutPermission: while the probes are not permitted
// (no CAP_NET_RAW), quiet intervals are no misses: an idle peer is not
// failed over; its traffic still judges it.
func TestHealthBlindWithoutPermission(t *testing.T) {
	tun, h := healthFake(t, unix.EPERM)
	ctx := context.Background()
	for range 5 {
		if err := h.tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := recordedState(t, tun); got != PeerThroughTunnel {
		t.Errorf("an idle peer without probes: %v, want %v", got, PeerThroughTunnel)
	}
	if healthy := tun.fo.healthy[tun.cfg.Peers[0].PublicKey]; !healthy {
		t.Error("an idle peer without probes judged unhealthy")
	}
	// A link gone is no permission problem: its peer misses.
	_, gone := healthFake(t, unix.ENODEV)
	for range 4 {
		if err := gone.tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := recordedState(t, gone.t); got != PeerFailedOver {
		t.Errorf("probes lost with the link: %v, want %v", got, PeerFailedOver)
	}
}
