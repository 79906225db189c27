package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime/pprof"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// cpuResult is the process's CPU time per second of Watch on a tunnel of
// n peers, with the health check off (no Fallback), on (the peers still
// judged healthy) and on with every peer failed over.
type cpuResult struct {
	peers           int
	off, on, failed float64 // CPU seconds per second
}

// health is a condition of the hub's CPU measurement.
type health int

const (
	healthOff    health = iota // no Fallback
	healthOn                   // Fallback internet, FailAfter so high that none fails over
	healthFailed               // Fallback internet, the default FailAfter: all fail over first
)

// failoverWait is the wait for the hub's peers to be judged unhealthy
// (FailAfter intervals, 2 s with the defaults) before the measurement.
const failoverWait = 5 * time.Second

// hubConfig is a hub with n peers that never answer (no endpoint: the
// health check's own cost, every peer probed every interval), each with a
// tunnel address and a public address; with health, each has Fallback
// internet, and for healthOn FailAfter is so high that none fails over
// during the measurement (a failover is an Up of the whole hub, not the
// steady cost measured here); for healthFailed the default FailAfter, so
// that all are failed over (probed as unhealthy peers) when it starts.
func hubConfig(name string, key wgtypes.Key, n int, h health) (transparent.Config, error) {
	c := transparent.Config{Name: name, PrivateKey: key, ListenPort: portA, Table: 123, Priority: 455,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.128.0.1/32")},
		Exception: transparent.ExceptionFwMark} // no endpoints, so no port rules
	if h == healthOn {
		c.Health = transparent.HealthCheck{FailAfter: transparent.MaxHealthCount}
	}
	for i := range n {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			return c, err
		}
		p := transparent.Peer{
			PublicKey:   k.PublicKey(),
			AllowedIPs:  []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 129, byte(i >> 8), byte(i)}), 32)},
			Transparent: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}), 32)},
		}
		if h != healthOff {
			p.Fallback = transparent.FallbackInternet
		}
		c.Peers = append(c.Peers, p)
	}
	return c, nil
}

// cpuRun measures the CPU time of this process per second of Watch, over
// d after settle, for a hub of n peers with health off, on, and on with
// the peers failed over, in a namespace of its own.
func cpuRun(ctx context.Context, s *testns.Session, n int, settle, d time.Duration) (cpuResult, error) {
	r := cpuResult{peers: n}
	ns := testns.New(s, "fxcpu")
	defer ns.Delete()
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return r, err
	}
	for h, v := range map[health]*float64{healthOff: &r.off, healthOn: &r.on, healthFailed: &r.failed} {
		cfg, err := hubConfig(fmt.Sprintf("wgfxh%d", n), key, n, h)
		if err != nil {
			return r, err
		}
		if *v, err = measureWatch(ctx, ns, cfg, h, settle, d); err != nil {
			return r, fmt.Errorf("hub of %d, health %d: %w", n, h, err)
		}
	}
	return r, nil
}

func measureWatch(ctx context.Context, ns *testns.NS, cfg transparent.Config, h health, settle, d time.Duration) (float64, error) {
	tun, err := transparent.New(cfg, transparent.WithNetNS(ns.Path))
	if err != nil {
		return 0, err
	}
	defer tun.Close()
	if err := tun.Up(ctx); err != nil {
		return 0, err
	}
	defer tun.Down(context.Background())
	wctx, stop := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- tun.Watch(wctx) }()
	defer func() { stop(); <-watched }()
	if h == healthFailed {
		if err := waitFailedOver(ctx, tun); err != nil {
			return 0, err
		}
	}
	time.Sleep(settle)
	if cpuProfile != "" && len(cfg.Peers) > 1 && h == healthOn {
		if f, err := os.Create(cpuProfile); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	t0, c0 := time.Now(), cpuTime()
	time.Sleep(d)
	return (cpuTime() - c0).Seconds() / time.Since(t0).Seconds(), nil
}

// waitFailedOver waits failoverWait, long enough for every peer of tun to
// be judged unhealthy (FailAfter intervals). It does not ask Health: the
// record of a hub of 1000 failed-over peers exceeds the record's size
// limit, so Health fails, and the transitions are judged but not recorded.
func waitFailedOver(ctx context.Context, tun *transparent.Tunnel) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(failoverWait):
		return nil
	}
}

// cpuProfile is where the hub's CPU profile with health on is written
// (-cpuprofile); "" for none.
var cpuProfile string

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
