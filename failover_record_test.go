//go:build linux

package transparent

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestPeerRecords: the recorded peer states that apply to a config, the
// planner's health input, and Plan's lines: a peer without a Fallback now
// is through the tunnel whatever the record says, a peer whose Fallback
// changed while unhealthy takes the state of its new Fallback, a peer
// never recorded is through the tunnel.
func TestPeerRecords(t *testing.T) {
	c := articleA(PeerRouteRule)
	c.Peers = append(c.Peers, Peer{PublicKey: testKey(3).PublicKey(), AllowedIPs: []netip.Prefix{pfx("10.0.0.3/32")},
		Transparent: []netip.Prefix{pfx("192.0.2.7/32")}, Endpoint: netip.MustParseAddrPort("192.0.2.7:51823")})
	since := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	rec := &record{Layouts: []layout{layoutOf(c.WithDefaults(), nil)}, Peers: []peerRecord{
		{PublicKey: c.Peers[0].PublicKey, State: PeerBlocked, Since: since},
		{PublicKey: c.Peers[1].PublicKey, State: PeerFailedOver, Since: since},
	}}
	if got := rec.failedPeers(c); len(got) != 0 {
		t.Errorf("no Fallback: failed peers %v, want none", got)
	}
	c.Peers[0].Fallback, c.Peers[1].Fallback = FallbackInternet, FallbackBlock
	failed := rec.failedPeers(c)
	if len(failed) != 2 || !failed[c.Peers[0].PublicKey] || !failed[c.Peers[1].PublicKey] {
		t.Errorf("failed peers %v, want both", failed)
	}
	ps := rec.peersFor(c)
	if len(ps) != 2 || ps[0].State != PeerFailedOver || ps[1].State != PeerBlocked || !ps[0].Since.Equal(since) {
		t.Errorf("peersFor = %+v, want the states of the new Fallbacks, since kept", ps)
	}
	c.Peers[1].Fallback = FallbackNone
	if ps := rec.peersFor(c); len(ps) != 1 {
		t.Errorf("peersFor = %+v, want the peer without a Fallback dropped", ps)
	}
	lines := peerStateLines(c, rec)
	if len(lines) != 1 || lines[0].Op != OpKeep || !strings.Contains(lines[0].Step, "fallback internet: failed-over since 2026-12-04T15:00:00Z") {
		t.Errorf("Plan lines %+v", lines)
	}
	if lines := peerStateLines(c, nil); len(lines) != 1 || !strings.HasSuffix(lines[0].Step, ": tunnel") {
		t.Errorf("Plan lines without a record %+v", lines)
	}
}

// TestHubRecordFits: the record of a hub whose 2000 peers have all failed
// over is written and read back whole (its size once passed the state
// files' limit, and the hub's failovers could not be recorded).
func TestHubRecordFits(t *testing.T) {
	c := articleA(PeerRouteRule).WithDefaults()
	tun, err := newFakeTunnel(c, newScenarioFake(false), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	rec := &record{Layouts: []layout{layoutOf(c, nil)}}
	since := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	for i := range 2000 {
		var key wgtypes.Key // distinct keys; no need for real ones
		key[0], key[1], key[31] = byte(i>>8), byte(i), 1
		rec.Peers = append(rec.Peers, peerRecord{PublicKey: key, State: PeerFailedOver, Since: since})
	}
	end, err := tun.begin(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	if err := tun.writeRecord(rec); err != nil {
		t.Fatal(err)
	}
	got, err := tun.readRecord()
	if err != nil || got == nil || len(got.Peers) != 2000 {
		t.Fatalf("read back: %v peers, %v; want 2000", func() int {
			if got == nil {
				return -1
			}
			return len(got.Peers)
		}(), err)
	}
}
