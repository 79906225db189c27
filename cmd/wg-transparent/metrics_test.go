package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fakeSource is a tunnel as the collector reads it.
type fakeSource struct {
	health []transparent.PeerHealth
	stats  transparent.Stats
	dev    *wgtypes.Device
	err    error
}

func (f *fakeSource) Health(context.Context) ([]transparent.PeerHealth, error) {
	return f.health, f.err
}
func (f *fakeSource) Stats() transparent.Stats         { return f.stats }
func (f *fakeSource) Device() (*wgtypes.Device, error) { return f.dev, nil }

// TestMetricsCollector: the collector writes what the tunnel says at
// scrape time, under prometheus_wireguard_exporter's names and labels
// where they overlap, wgtransparent_ otherwise; a peer failed over shows
// its state, since when, and its counters; a key that is the config's
// secret is hidden.
func TestMetricsCollector(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b, hub := genKey(t).PublicKey(), genKey(t).PublicKey()
	private := genKey(t)
	cfg := transparent.Config{Name: "wg0", PrivateKey: private}
	src := &fakeSource{
		stats: transparent.Stats{DriftRepairs: 2, NameResolutions: 7},
		dev: &wgtypes.Device{Name: "wg0", Peers: []wgtypes.Peer{
			{PublicKey: b, ReceiveBytes: 100, TransmitBytes: 200, LastHandshakeTime: now.Add(-30 * time.Second),
				AllowedIPs: []net.IPNet{{IP: net.IPv4(10, 0, 0, 2), Mask: net.CIDRMask(32, 32)}, {IP: net.IPv4(203, 0, 113, 2), Mask: net.CIDRMask(32, 32)}}},
			{PublicKey: hub},
			{PublicKey: private}, // a private key pasted as a peer's key
		}},
		health: []transparent.PeerHealth{{PublicKey: b, Fallback: transparent.FallbackInternet, State: transparent.PeerFailedOver,
			Since: now.Add(-5 * time.Second), Healthy: false, Failovers: 1}},
	}
	c := &collector{name: "wg0", cfg: cfg, tun: src, now: func() time.Time { return now }}
	kb := b.String()
	want := `
# HELP wireguard_latest_handshake_delay_seconds Seconds since the latest handshake with the peer (absent before the first).
# TYPE wireguard_latest_handshake_delay_seconds gauge
wireguard_latest_handshake_delay_seconds{allowed_ips="10.0.0.2/32,203.0.113.2/32",interface="wg0",public_key="` + kb + `"} 30
# HELP wireguard_received_bytes_total Bytes received from the peer.
# TYPE wireguard_received_bytes_total counter
wireguard_received_bytes_total{allowed_ips="10.0.0.2/32,203.0.113.2/32",interface="wg0",public_key="` + kb + `"} 100
wireguard_received_bytes_total{allowed_ips="",interface="wg0",public_key="` + hub.String() + `"} 0
wireguard_received_bytes_total{allowed_ips="",interface="wg0",public_key="(hidden)"} 0
# HELP wgtransparent_peer_state 1 for the state the peer's Transparent destinations are in (tunnel, failed-over, blocked), 0 for the others; peers with a Fallback only.
# TYPE wgtransparent_peer_state gauge
wgtransparent_peer_state{fallback="internet",interface="wg0",public_key="` + kb + `",state="failed-over"} 1
wgtransparent_peer_state{fallback="internet",interface="wg0",public_key="` + kb + `",state="tunnel"} 0
# HELP wgtransparent_peer_failovers_total Transitions of the peer out of the tunnel (failed over or blocked) by this process.
# TYPE wgtransparent_peer_failovers_total counter
wgtransparent_peer_failovers_total{interface="wg0",public_key="` + kb + `"} 1
# HELP wgtransparent_peer_state_since_seconds UNIX time the peer's state began; absent when never recorded.
# TYPE wgtransparent_peer_state_since_seconds gauge
wgtransparent_peer_state_since_seconds{interface="wg0",public_key="` + kb + `"} 1.799999995e+09
# HELP wgtransparent_drift_repairs_total Drift repairs of the tunnel by this process's Watch.
# TYPE wgtransparent_drift_repairs_total counter
wgtransparent_drift_repairs_total{interface="wg0"} 2
# HELP wgtransparent_name_resolutions_total Lookups of the peers' Transparent host names by this process.
# TYPE wgtransparent_name_resolutions_total counter
wgtransparent_name_resolutions_total{interface="wg0"} 7
# HELP wgtransparent_scrape_error 1 when this scrape could not read the tunnel's state or device (the other metrics are then missing), else 0.
# TYPE wgtransparent_scrape_error gauge
wgtransparent_scrape_error{interface="wg0"} 0
`
	names := []string{"wireguard_latest_handshake_delay_seconds", "wireguard_received_bytes_total", "wgtransparent_peer_state",
		"wgtransparent_peer_failovers_total", "wgtransparent_peer_state_since_seconds", "wgtransparent_drift_repairs_total",
		"wgtransparent_name_resolutions_total", "wgtransparent_scrape_error"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	hidden := 0
	for _, f := range families {
		got = append(got, f.GetName())
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == private.String() {
					t.Errorf("%s shows the private key", f.GetName())
				}
				if l.GetName() == "public_key" && l.GetValue() == hiddenKey {
					hidden++
				}
			}
		}
	}
	if hidden == 0 {
		t.Errorf("the private key pasted as a peer's is not shown as %s", hiddenKey)
	}
	sort.Strings(got)
	for _, n := range []string{"wireguard_sent_bytes_total", "wireguard_latest_handshake_seconds", "wgtransparent_up", "wgtransparent_peer_healthy", "wgtransparent_peer_failbacks_total"} {
		if sort.SearchStrings(got, n) == len(got) || got[sort.SearchStrings(got, n)] != n {
			t.Errorf("no %s among %q", n, got)
		}
	}

	// A tunnel whose state cannot be read says so, and the scrape goes on.
	src.err = errors.New("locked")
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP wgtransparent_scrape_error 1 when this scrape could not read the tunnel's state or device (the other metrics are then missing), else 0.
# TYPE wgtransparent_scrape_error gauge
wgtransparent_scrape_error{interface="wg0"} 1
`), "wgtransparent_scrape_error"); err != nil {
		t.Error(err)
	}
}

// TestTransitionLogLine: run prints a transition's times in RFC 3339,
// UTC, and a handshake that never happened as "never".
func TestTransitionLogLine(t *testing.T) {
	var b strings.Builder
	log := slog.New(&stepHandler{w: &b})
	since := time.Date(2026, 12, 4, 15, 40, 0, 0, time.FixedZone("X", 3600))
	log.Info("peer failed over", "peer", "KEY", "state", "failed-over", "since", since, "last_handshake", time.Time{}, "received", 92)
	want := "[#] peer failed over peer=KEY state=failed-over since=2026-12-04T14:40:00Z last_handshake=never received=92\n"
	if b.String() != want {
		t.Errorf("log line:\n%q\nwant\n%q", b.String(), want)
	}
}
