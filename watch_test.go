package transparent_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
)

// TestWatchRepairs: with Watch running, a rule deleted by someone else
// comes back, and Watch ends with its context.
func TestWatchRepairs(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	tun := newTunnel(t, w.configA(transparent.PeerRouteRule), w.A)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tun.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
		tun.Down(context.Background())
	}()

	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.Protocol = 456, 123, transparent.RouteProtocol
	rule.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2).To4(), Mask: net.CIDRMask(32, 32)}
	hasRule := func() bool {
		rules, err := w.A.Netlink().RuleListFiltered(netlink.FAMILY_V4, rule, netlink.RT_FILTER_PRIORITY)
		return err == nil && len(rules) == 1
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("Watch's first Up", hasRule)
	if err := w.A.Netlink().RuleDel(rule); err != nil {
		t.Fatal(err)
	}
	waitFor("Watch to put the deleted rule back", hasRule)
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
}
