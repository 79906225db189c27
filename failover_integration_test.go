package transparent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fastHealth fails a peer over after 500-600 ms without an answer and
// brings it back after 200 ms of answers: short tests, with room for a
// slow reply on a loaded machine (the race detector) before the cut.
var fastHealth = transparent.HealthCheck{Interval: 100 * time.Millisecond, FailAfter: 5, RecoverAfter: 2}

// newFailoverArticle is the article's world with device names of this
// file's tests.
func newFailoverArticle(t *testing.T) *article {
	t.Helper()
	w := newArticle(t)
	suffix := randHex(t)
	w.nameA, w.nameB = "wgfoa"+suffix, "wgfob"+suffix
	return w
}

// nft runs an nft script in ns.
func nft(t *testing.T, ns *testns.NS, script string) string {
	t.Helper()
	out, err := ns.Nft(script)
	if err != nil {
		t.Fatalf("%v\n%s", err, script)
	}
	return out
}

// cutWireGuard drops the WireGuard UDP of port, both ways, at the router;
// healWireGuard lets it through again.
func cutWireGuard(t *testing.T, w *article, port int) {
	t.Helper()
	if err := w.Router.CutUDP("wgfocut", port); err != nil {
		t.Fatal(err)
	}
}

func healWireGuard(t *testing.T, w *article) {
	t.Helper()
	if err := w.Router.HealUDP("wgfocut"); err != nil {
		t.Fatal(err)
	}
}

// countPlain counts at the router the packets from A's public address to
// B's that are not WireGuard's UDP: what left A unencrypted.
func countPlain(t *testing.T, w *article) func() int {
	t.Helper()
	nft(t, w.Router, `table inet wgfocount {
	counter plain {}
	chain wgfo {
		type filter hook forward priority -10;
		ip saddr 198.51.100.1 ip daddr 203.0.113.2 udp dport 51822 return
		ip6 saddr 2001:db8:a::1 ip6 daddr 2001:db8:b::2 udp dport 51822 return
		ip saddr 198.51.100.1 ip daddr 203.0.113.2 counter name plain
		ip6 saddr 2001:db8:a::1 ip6 daddr 2001:db8:b::2 counter name plain
	}
}`)
	re := regexp.MustCompile(`packets (\d+)`)
	return func() int {
		var out []byte
		err := w.Router.Do(func() (err error) {
			out, err = exec.Command("nft", "list", "counter", "inet", "wgfocount", "plain").CombinedOutput()
			return err
		})
		m := re.FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("read the router's counter: %v: %s", err, out)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
}

// watchUntil runs tun.Watch until the test ends, or the returned stop.
func watchUntil(t *testing.T, tun *transparent.Tunnel) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tun.Watch(ctx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// waitState waits until the peer with key k is in state want, and returns
// its health. A transition is recorded first and then applied (Watch's
// Up plans from the record), so it then also waits, within the same
// time, until the kernel matches the state (Check is clean), for the
// routes the state asks for; a tunnel that cannot be in sync (its device
// deleted on purpose) returns at the deadline.
func waitState(t *testing.T, tun *transparent.Tunnel, k wgtypes.Key, want transparent.PeerState, within time.Duration) transparent.PeerHealth {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []transparent.PeerHealth
	for {
		hs, err := tun.Health(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		last = hs
		for _, h := range hs {
			if h.PublicKey == k && h.State == want {
				for tun.Check(context.Background()) != nil && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if hs, err := tun.Health(context.Background()); err == nil {
					for _, h2 := range hs {
						if h2.PublicKey == k && h2.State == want {
							return h2 // with the transition's counts
						}
					}
				}
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer %s not %s after %s: %+v", k, want, within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFailoverInternet: with FallbackInternet, A's requests to B's public
// address go through the tunnel while it works, over the Internet while
// the WireGuard path is cut at the router (B logs A's public address),
// and through the tunnel again once it is healed; the same when B's
// device is deleted and comes back. Dual stack: both families fail over.
func TestFailoverInternet(t *testing.T) {
	w := newFailoverArticle(t)
	b := w.upBDual(t)
	cfg := w.configA(transparent.PeerRouteRule)
	cfg.Addresses = append(cfg.Addresses, netip.MustParsePrefix("fd00::1/128"))
	cfg.Peers[0].AllowedIPs = append(cfg.Peers[0].AllowedIPs, netip.MustParsePrefix("fd00::2/128"))
	cfg.Peers[0].Transparent = append(cfg.Peers[0].Transparent, netip.MustParsePrefix("2001:db8:b::2/128"))
	cfg.Peers[0].Fallback = transparent.FallbackInternet
	cfg.Health = fastHealth
	a := newTunnel(t, cfg, w.A)
	watchUntil(t, a)
	key := w.keyB.PublicKey()
	waitState(t, a, key, transparent.PeerThroughTunnel, 5*time.Second)
	urlB, urlB6 := "http://203.0.113.2/", "http://[2001:db8:b::2]/"
	publicA6 := netip.MustParseAddr("2001:db8:a::1")
	w.expectClientSoon(t, urlB, tunA)
	w.expectClientSoon(t, urlB6, netip.MustParseAddr("fd00::1"))

	cutWireGuard(t, w, 51822)
	h := waitState(t, a, key, transparent.PeerFailedOver, 5*time.Second)
	if h.Healthy || h.Since.IsZero() {
		t.Errorf("failed over: %+v", h)
	}
	w.expectClient(t, w.A, urlB, publicA) // over the Internet
	w.expectClient(t, w.A, urlB6, publicA6)
	// Another process sees the state, and its Up keeps the peer failed
	// over: by design, not drift.
	other := newTunnel(t, cfg, w.A)
	hs, err := other.Health(context.Background())
	if err != nil || len(hs) != 1 || hs[0].State != transparent.PeerFailedOver || hs[0].Healthy || !hs[0].Since.Equal(h.Since) {
		t.Errorf("Health from another Tunnel: %+v, %v; want failed over since %v", hs, err, h.Since)
	}
	if err := other.Check(context.Background()); err != nil {
		t.Errorf("Check while failed over: %v", err)
	}
	if err := other.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.expectClient(t, w.A, urlB, publicA)

	healWireGuard(t, w)
	h = waitState(t, a, key, transparent.PeerThroughTunnel, 15*time.Second)
	if h.Failovers != 1 || h.Failbacks != 1 || !h.Healthy {
		t.Errorf("after the failback: %+v, want one failover and one failback", h)
	}
	w.expectClient(t, w.A, urlB, tunA)
	w.expectClient(t, w.A, urlB6, netip.MustParseAddr("fd00::1"))

	// The peer's device deleted: the same, and back when it returns.
	if err := b.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitState(t, a, key, transparent.PeerFailedOver, 5*time.Second)
	w.expectClient(t, w.A, urlB, publicA)
	if err := b.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A's session with the old device stays valid until WireGuard gives
	// up on it: a new handshake comes 15 s (keepalive and rekey timeouts)
	// after A last heard from B.
	waitState(t, a, key, transparent.PeerThroughTunnel, 30*time.Second)
	w.expectClient(t, w.A, urlB, tunA)

	// Watch repairs drift, and counts it; failing over and back by
	// design were no drift.
	if st := a.Stats(); st.DriftRepairs != 0 {
		t.Errorf("Stats() = %+v after a failover and a failback, want no drift repair", st)
	}
	if err := w.A.Netlink().RuleDel(mustRule(t, w.A, 456)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Stats().DriftRepairs == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Stats() = %+v after a rule was deleted, want a drift repair", a.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Plan shows the state.
	changes, err := a.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(changes), "fallback internet: tunnel since") {
		t.Errorf("Plan has no line for the peer's state: %v", changes)
	}
}

// TestFailoverBlock: with FallbackBlock, while the WireGuard path is cut
// A's connections to B's public address are refused at once (no route to
// host), and nothing to B's public address leaves A unencrypted, as
// counted at the router; after the heal they go through the tunnel
// again. With the Watch stopped and A's device deleted (as when the
// process running it is killed), the kernel alone still refuses them;
// Down removes the kill switch. The default Health settings.
func TestFailoverBlock(t *testing.T) {
	w := newFailoverArticle(t)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	cfg.Peers[0].Fallback = transparent.FallbackBlock
	a := newTunnel(t, cfg, w.A)
	stop := watchUntil(t, a)
	key := w.keyB.PublicKey()
	waitState(t, a, key, transparent.PeerThroughTunnel, 5*time.Second)
	w.expectClientSoon(t, "http://203.0.113.2/", tunA)
	plain := countPlain(t, w)

	cutWireGuard(t, w, 51822)
	start := time.Now()
	h := waitState(t, a, key, transparent.PeerBlocked, 5*time.Second)
	t.Logf("blocked %s after the cut", time.Since(start).Round(10*time.Millisecond))
	if h.Healthy {
		t.Errorf("blocked: %+v", h)
	}
	expectUnreachable(t, w.A, "203.0.113.2:80")
	healWireGuard(t, w)
	waitState(t, a, key, transparent.PeerThroughTunnel, 15*time.Second)
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)

	stop()
	if err := w.A.Netlink().LinkDel(mustLink(t, w.A, w.nameA)); err != nil {
		t.Fatal(err)
	}
	expectUnreachable(t, w.A, "203.0.113.2:80")
	if n := plain(); n != 0 {
		t.Errorf("%d packets to B's public address left A unencrypted", n)
	}
	if err := a.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", publicA)
}

// TestFailoverFlapping: a path cut for less than FailAfter intervals at a
// time, again and again, does not fail the peer over (hysteresis).
func TestFailoverFlapping(t *testing.T) {
	w := newFailoverArticle(t)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	cfg.Peers[0].Fallback = transparent.FallbackInternet
	cfg.Health = transparent.HealthCheck{Interval: 100 * time.Millisecond, FailAfter: 12, RecoverAfter: 2}
	a := newTunnel(t, cfg, w.A)
	watchUntil(t, a)
	key := w.keyB.PublicKey()
	waitState(t, a, key, transparent.PeerThroughTunnel, 5*time.Second)
	w.expectClientSoon(t, "http://203.0.113.2/", tunA)
	for range 4 {
		cutWireGuard(t, w, 51822)
		time.Sleep(300 * time.Millisecond)
		healWireGuard(t, w)
		time.Sleep(400 * time.Millisecond)
	}
	hs, err := a.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].State != transparent.PeerThroughTunnel || hs[0].Failovers != 0 {
		t.Errorf("after a flapping path: %+v, want no failover", hs)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
}

// TestFailoverHub: a hub with two peers, B and C; cutting B's WireGuard
// path fails B over and leaves C in the tunnel.
func TestFailoverHub(t *testing.T) {
	w := newFailoverArticle(t)
	w.upB(t)
	keyC := genKey(t)
	nameC := "wgfoc" + randHex(t)
	tunC := netip.MustParseAddr("10.0.0.3")
	c := newTunnel(t, transparent.Config{
		Name: nameC, PrivateKey: keyC, ListenPort: 51823,
		Addresses: []netip.Prefix{netip.PrefixFrom(tunC, 32)},
		Peers:     []transparent.Peer{{PublicKey: w.keyA.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(tunA, 32)}}},
	}, w.C)
	if err := c.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := w.configA(transparent.PeerRouteRule)
	cfg.Peers[0].Fallback = transparent.FallbackInternet
	cfg.Peers = append(cfg.Peers, transparent.Peer{
		PublicKey: keyC.PublicKey(), Endpoint: netip.AddrPortFrom(publicC, 51823),
		AllowedIPs:  []netip.Prefix{netip.PrefixFrom(tunC, 32)},
		Transparent: []netip.Prefix{netip.PrefixFrom(publicC, 32)},
		Fallback:    transparent.FallbackBlock,
	})
	cfg.Health = transparent.HealthCheck{Interval: 100 * time.Millisecond, FailAfter: 6, RecoverAfter: 2}
	logs := &syncBuffer{}
	a, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithBackend(testBackend()),
		transparent.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	watchUntil(t, a)
	waitState(t, a, w.keyB.PublicKey(), transparent.PeerThroughTunnel, 5*time.Second)
	waitState(t, a, keyC.PublicKey(), transparent.PeerThroughTunnel, 5*time.Second)
	w.expectClientSoon(t, "http://203.0.113.2/", tunA)

	cutWireGuard(t, w, 51822)
	waitState(t, a, w.keyB.PublicKey(), transparent.PeerFailedOver, 5*time.Second)
	time.Sleep(time.Second) // ten more intervals
	hs, err := a.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hs[1].State != transparent.PeerThroughTunnel || hs[1].Failovers != 0 {
		t.Errorf("C: %+v, want it through the tunnel all along", hs[1])
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", publicA)
	healWireGuard(t, w)
	waitState(t, a, w.keyB.PublicKey(), transparent.PeerThroughTunnel, 15*time.Second)

	// Each transition is logged with its attributes.
	var failover, failback bool
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		msg, _ := rec["msg"].(string)
		if msg != "peer failed over" && msg != "peer failed back into the tunnel" {
			continue
		}
		for _, attr := range []string{"peer", "state", "since", "last_handshake", "received"} {
			if _, ok := rec[attr]; !ok {
				t.Errorf("log %q has no %s: %s", msg, attr, line)
			}
		}
		if rec["peer"] != w.keyB.PublicKey().String() {
			t.Errorf("log %q of peer %v, want only B's transitions", msg, rec["peer"])
		}
		failover = failover || rec["state"] == "failed-over"
		failback = failback || rec["state"] == "tunnel"
	}
	if !failover || !failback {
		t.Errorf("transitions logged: failover %v, failback %v; want both:\n%s", failover, failback, logs)
	}
}

// upBDual is upB with IPv6 tunnel addresses too.
func (w *article) upBDual(t *testing.T) *transparent.Tunnel {
	t.Helper()
	cfg := transparent.Config{
		Name:       w.nameB,
		PrivateKey: w.keyB,
		ListenPort: 51822,
		Addresses:  []netip.Prefix{netip.PrefixFrom(tunB, 32), netip.MustParsePrefix("fd00::2/128")},
		Peers: []transparent.Peer{{
			PublicKey:  w.keyA.PublicKey(),
			AllowedIPs: []netip.Prefix{netip.PrefixFrom(tunA, 32), netip.MustParsePrefix("fd00::1/128")},
		}},
	}
	tun := newTunnel(t, cfg, w.B)
	if err := tun.Up(context.Background()); err != nil {
		t.Fatalf("up B: %v", err)
	}
	return tun
}

// expectClientSoon is expectClient for a tunnel that Watch brings up.
func (w *article) expectClientSoon(t *testing.T, url string, want netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := testns.Get(ctx, w.A, url)
		cancel()
		if err == nil && w.Server.Last() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s from A: %v, B logged %s; want %s", url, err, w.Server.Last(), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectUnreachable checks that a TCP connection from ns to addr is
// refused at once with "no route to host".
func expectUnreachable(t *testing.T, ns *testns.NS, addr string) {
	t.Helper()
	start := time.Now()
	err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("connect to %s: %v after %s, want no route to host", addr, err, time.Since(start))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("connect to %s refused after %s, want at once", addr, d)
	}
}

// mustLink is the link called name in ns.
func mustLink(t *testing.T, ns *testns.NS, name string) netlink.Link {
	t.Helper()
	l, err := ns.Netlink().LinkByName(name)
	if err != nil {
		t.Fatalf("find %s in %s: %v", name, ns.Name, err)
	}
	return l
}

// TestFailoverSIGKILL: the process that ran Up with the embedded device is
// killed with SIGKILL. In block mode the kernel alone refuses B's public
// address, and nothing leaves unencrypted; in internet mode it falls
// through to the Internet. (A kernel device outlives its process: the
// tunnel still carries the traffic.)
func TestFailoverSIGKILL(t *testing.T) {
	for _, fb := range []transparent.Fallback{transparent.FallbackBlock, transparent.FallbackInternet} {
		t.Run(fb.String(), func(t *testing.T) {
			w := newFailoverArticle(t)
			w.upB(t)
			cfg := w.configA(transparent.PeerRouteRule)
			cfg.Peers[0].Fallback = fb
			child, lines := startChild(t, map[string]any{"Config": cfg, "NetNS": w.A.Path, "Backend": testBackend()})
			if line, _ := lines.ReadString('\n'); strings.TrimSpace(line) != "up" {
				t.Fatalf("child: %q", line)
			}
			w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
			plain := countPlain(t, w)
			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			child.Wait()
			if wantBackend() != transparent.BackendUserspace {
				w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
				return
			}
			waitLinkGone(t, w.A, cfg.Name)
			if fb == transparent.FallbackBlock {
				expectUnreachable(t, w.A, "203.0.113.2:80")
				if n := plain(); n != 0 {
					t.Errorf("%d packets to B's public address left A unencrypted", n)
				}
			} else {
				w.expectClient(t, w.A, "http://203.0.113.2/", publicA)
			}
			a := newTunnel(t, cfg, w.A) // a fresh process's Down removes the kill switch
			if err := a.Down(context.Background()); err != nil {
				t.Fatal(err)
			}
			w.expectClient(t, w.A, "http://203.0.113.2/", publicA)
		})
	}
}

// mustRule is a rule of ours at priority prio in ns.
func mustRule(t *testing.T, ns *testns.NS, prio int) *netlink.Rule {
	t.Helper()
	rules, err := ns.Netlink().RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Priority == prio && r.Protocol == transparent.RouteProtocol {
			return &r
		}
	}
	t.Fatalf("no rule of ours at %d in %s", prio, ns.Name)
	return nil
}

// TestFailoverEveryOption: the probes reach the peer, and the peer fails
// over and back, with every peer route option in both rule modes, and in
// fwmark exception mode.
func TestFailoverEveryOption(t *testing.T) {
	type option struct {
		pr   transparent.PeerRoute
		mode transparent.RuleMode
		exc  transparent.ExceptionMode
	}
	var options []option
	for _, mode := range []transparent.RuleMode{transparent.RulesPerDestination, transparent.RulesTable} {
		for _, pr := range []transparent.PeerRoute{transparent.PeerRoutePrefix, transparent.PeerRouteMain, transparent.PeerRouteRule} {
			options = append(options, option{pr, mode, transparent.ExceptionPort})
		}
	}
	options = append(options, option{transparent.PeerRouteRule, transparent.RulesPerDestination, transparent.ExceptionFwMark})
	for _, o := range options {
		t.Run(o.mode.String()+"/"+o.pr.String()+"/"+o.exc.String(), func(t *testing.T) {
			w := newFailoverArticle(t)
			w.upB(t)
			cfg := w.configA(o.pr)
			cfg.Rules, cfg.Exception = o.mode, o.exc
			cfg.Peers[0].Fallback = transparent.FallbackInternet
			cfg.Health = fastHealth
			a := newTunnel(t, cfg, w.A)
			watchUntil(t, a)
			key := w.keyB.PublicKey()
			w.expectClientSoon(t, "http://203.0.113.2/", tunA)
			cutWireGuard(t, w, 51822)
			waitState(t, a, key, transparent.PeerFailedOver, 5*time.Second)
			w.expectClient(t, w.A, "http://203.0.113.2/", publicA)
			healWireGuard(t, w)
			waitState(t, a, key, transparent.PeerThroughTunnel, 15*time.Second)
			w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
		})
	}
}

// TestFailoverNames: a peer whose destinations are host names only fails
// over too: in block mode A's connections to the name's address are
// refused during the cut, and go through the tunnel after the heal.
func TestFailoverNames(t *testing.T) {
	w := newFailoverArticle(t)
	x := extraB["IPv4"][0]
	eth0 := mustLink(t, w.B, "eth0")
	if err := w.B.Netlink().AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: x.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	dns := testns.DNS(t, w.C, publicC)
	dns.Set(appName, longTTL, x)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	cfg.Peers[0].Transparent, cfg.Peers[0].TransparentNames = nil, []string{appName}
	cfg.Peers[0].Fallback = transparent.FallbackBlock
	cfg.Health = fastHealth
	a, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithBackend(testBackend()), transparent.WithResolver(dns.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	watchUntil(t, a)
	url := "http://" + x.String() + "/"
	w.expectClientSoon(t, url, tunA)
	cutWireGuard(t, w, 51822)
	waitState(t, a, w.keyB.PublicKey(), transparent.PeerBlocked, 5*time.Second)
	expectUnreachable(t, w.A, x.String()+":80")
	healWireGuard(t, w)
	waitState(t, a, w.keyB.PublicKey(), transparent.PeerThroughTunnel, 15*time.Second)
	w.expectClient(t, w.A, url, tunA)
	if err := a.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestFailoverIPv6: an IPv6-only tunnel fails over and back: the probes
// are ICMPv6.
func TestFailoverIPv6(t *testing.T) {
	w := newFailoverArticle(t)
	w.upBDual(t)
	publicB6 := netip.MustParseAddr("2001:db8:b::2")
	cfg := transparent.Config{
		Name: w.nameA, PrivateKey: w.keyA, ListenPort: 51821,
		Addresses: []netip.Prefix{netip.MustParsePrefix("fd00::1/128")},
		Peers: []transparent.Peer{{
			PublicKey:   w.keyB.PublicKey(),
			Endpoint:    netip.AddrPortFrom(publicB6, 51822),
			AllowedIPs:  []netip.Prefix{netip.MustParsePrefix("fd00::2/128")},
			Transparent: []netip.Prefix{netip.PrefixFrom(publicB6, 128)},
			Fallback:    transparent.FallbackInternet,
		}},
		Health: fastHealth,
	}
	a := newTunnel(t, cfg, w.A)
	watchUntil(t, a)
	url := "http://[2001:db8:b::2]/"
	w.expectClientSoon(t, url, netip.MustParseAddr("fd00::1"))
	cutWireGuard(t, w, 51822)
	waitState(t, a, w.keyB.PublicKey(), transparent.PeerFailedOver, 5*time.Second)
	w.expectClient(t, w.A, url, netip.MustParseAddr("2001:db8:a::1"))
	healWireGuard(t, w)
	waitState(t, a, w.keyB.PublicKey(), transparent.PeerThroughTunnel, 15*time.Second)
	w.expectClient(t, w.A, url, netip.MustParseAddr("fd00::1"))
}
