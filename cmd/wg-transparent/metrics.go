package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// scrapeTimeout bounds one scrape's reads of the tunnel (its record,
// under the tunnel's lock, and the device): a Watch busy applying a
// transition holds the lock for a moment, never for seconds.
const scrapeTimeout = 5 * time.Second

// metricsReadTimeout bounds the reading of a scrape request's headers,
// so that an idle connection cannot hold the server.
const metricsReadTimeout = 10 * time.Second

// The metrics' names. Those that prometheus_wireguard_exporter also
// exports have its names and labels (interface, public_key, allowed_ips),
// so that its dashboards and alerts work unchanged; the others are
// prefixed wgtransparent_.
var (
	wgLabels       = []string{"interface", "public_key", "allowed_ips"}
	peerLabels     = []string{"interface", "public_key"}
	descSent       = prometheus.NewDesc("wireguard_sent_bytes_total", "Bytes sent to the peer.", wgLabels, nil)
	descReceived   = prometheus.NewDesc("wireguard_received_bytes_total", "Bytes received from the peer.", wgLabels, nil)
	descHandshake  = prometheus.NewDesc("wireguard_latest_handshake_seconds", "UNIX time of the latest handshake with the peer, 0 for never.", wgLabels, nil)
	descDelay      = prometheus.NewDesc("wireguard_latest_handshake_delay_seconds", "Seconds since the latest handshake with the peer (absent before the first).", wgLabels, nil)
	descUp         = prometheus.NewDesc("wgtransparent_up", "1 when the tunnel's WireGuard device exists.", []string{"interface"}, nil)
	descState      = prometheus.NewDesc("wgtransparent_peer_state", "1 for the state the peer's Transparent destinations are in (tunnel, failed-over, blocked), 0 for the others; peers with a Fallback only.", []string{"interface", "public_key", "fallback", "state"}, nil)
	descHealthy    = prometheus.NewDesc("wgtransparent_peer_healthy", "1 when the health check judges the peer healthy, else 0; peers with a Fallback only.", peerLabels, nil)
	descSince      = prometheus.NewDesc("wgtransparent_peer_state_since_seconds", "UNIX time the peer's state began; absent when never recorded.", peerLabels, nil)
	descFailovers  = prometheus.NewDesc("wgtransparent_peer_failovers_total", "Transitions of the peer out of the tunnel (failed over or blocked) by this process.", peerLabels, nil)
	descFailbacks  = prometheus.NewDesc("wgtransparent_peer_failbacks_total", "Transitions of the peer back into the tunnel by this process.", peerLabels, nil)
	descRepairs    = prometheus.NewDesc("wgtransparent_drift_repairs_total", "Drift repairs of the tunnel by this process's Watch.", []string{"interface"}, nil)
	descLookups    = prometheus.NewDesc("wgtransparent_name_resolutions_total", "Lookups of the peers' Transparent host names by this process.", []string{"interface"}, nil)
	descScrapeFail = prometheus.NewDesc("wgtransparent_scrape_error", "1 when this scrape could not read the tunnel's state or device (the other metrics are then missing), else 0.", []string{"interface"}, nil)
	peerStates3    = []transparent.PeerState{transparent.PeerThroughTunnel, transparent.PeerFailedOver, transparent.PeerBlocked}
)

// tunnelSource is what the collector reads: a Tunnel's health, counters
// and device.
type tunnelSource interface {
	Health(context.Context) ([]transparent.PeerHealth, error)
	Stats() transparent.Stats
	Device() (*wgtypes.Device, error)
}

// collector is a prometheus.Collector that reads the tunnel at scrape
// time: nothing is kept between scrapes but the tunnel's own counters.
type collector struct {
	name string
	mu   sync.Mutex
	cfg  transparent.Config // for redacting keys; a reload replaces it (setConfig)
	tun  tunnelSource
	now  func() time.Time
}

// setConfig replaces the config whose secrets the collector hides, after
// a reload: a new private or preshared key stays hidden.
func (c *collector) setConfig(cfg transparent.Config) {
	c.mu.Lock()
	c.cfg = cfg
	c.mu.Unlock()
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSent, descReceived, descHandshake, descDelay, descUp, descState, descHealthy, descSince, descFailovers, descFailbacks, descRepairs, descLookups, descScrapeFail} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	c.mu.Lock()
	cfg := c.cfg
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	stats := c.tun.Stats()
	counter(descRepairs, float64(stats.DriftRepairs), c.name)
	counter(descLookups, float64(stats.NameResolutions), c.name)

	failed := 0.0
	dev, err := c.tun.Device()
	if err != nil {
		failed = 1
	}
	gauge(descUp, boolValue(dev != nil), c.name)
	if dev != nil {
		now := c.now()
		for _, p := range dev.Peers {
			labels := []string{c.name, cfg.RedactKey(p.PublicKey), allowedIPs(p.AllowedIPs)}
			counter(descSent, float64(p.TransmitBytes), labels...)
			counter(descReceived, float64(p.ReceiveBytes), labels...)
			hs := 0.0
			if !p.LastHandshakeTime.IsZero() {
				hs = float64(p.LastHandshakeTime.Unix())
				gauge(descDelay, now.Sub(p.LastHandshakeTime).Seconds(), labels...)
			}
			gauge(descHandshake, hs, labels...)
		}
	}
	health, err := c.tun.Health(ctx)
	if err != nil {
		failed = 1
	}
	for _, h := range health {
		key := cfg.RedactKey(h.PublicKey)
		for _, s := range peerStates3 {
			if s == transparent.PeerBlocked && h.Fallback != transparent.FallbackBlock || s == transparent.PeerFailedOver && h.Fallback != transparent.FallbackInternet {
				continue // a state the peer's Fallback never gives
			}
			gauge(descState, boolValue(h.State == s), c.name, key, h.Fallback.String(), s.String())
		}
		gauge(descHealthy, boolValue(h.Healthy), c.name, key)
		if !h.Since.IsZero() {
			gauge(descSince, float64(h.Since.UnixMilli())/1e3, c.name, key)
		}
		counter(descFailovers, float64(h.Failovers), c.name, key)
		counter(descFailbacks, float64(h.Failbacks), c.name, key)
	}
	gauge(descScrapeFail, failed, c.name)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// allowedIPs is the label prometheus_wireguard_exporter gives a peer's
// AllowedIPs: comma-separated, in the device's order.
func allowedIPs(list []net.IPNet) string {
	s := make([]string, len(list))
	for i, n := range list {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

// serveMetrics serves /metrics on addr (host:port; ":9586" for every
// address) for the tunnel, in the calling process's namespace (not the
// tunnel's), until ctx ends. It returns once the listener is open: a busy
// or bad address is an error for run to report at once. The errors of the
// server after that are logged.
func (c *command) serveMetrics(ctx context.Context, addr string, tun *transparent.Tunnel, cfg transparent.Config) (*collector, error) {
	reg := prometheus.NewRegistry()
	col := &collector{name: cfg.Name, cfg: cfg, tun: tun, now: time.Now}
	if err := reg.Register(col); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: metricsReadTimeout}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.logf("%s: metrics: %v", program, err)
		}
	}()
	c.logf("[#] metrics on http://%s/metrics", ln.Addr())
	return col, nil
}
