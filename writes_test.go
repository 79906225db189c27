package transparent

import (
	"context"
	"testing"

	"github.com/wgtransparent/transparent/internal/testns"
)

// TestSecondUpWritesNothing counts the tunnel's own kernel writes, which
// include the WireGuard device settings that a netlink subscription
// cannot see: the second Up must make none, for every peer route option.
func TestSecondUpWritesNothing(t *testing.T) {
	testns.RequireRoot(t)
	for _, pr := range []PeerRoute{PeerRouteRule, PeerRoutePrefix, PeerRouteMain} {
		t.Run(pr.String(), func(t *testing.T) {
			ns := testns.New(t, "w")
			cfg := articleA(pr)
			cfg.Name = "wgw" + pr.String()
			tun, err := New(cfg, WithNetNS(ns.Path))
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			ctx := context.Background()
			if err := tun.Up(ctx); err != nil {
				t.Fatalf("first Up: %v", err)
			}
			if tun.writes == 0 {
				t.Fatal("first Up made no writes")
			}
			if err := tun.Up(ctx); err != nil {
				t.Fatalf("second Up: %v", err)
			}
			if tun.writes != 0 {
				t.Errorf("second Up made %d kernel writes, want 0", tun.writes)
			}
			if err := tun.Down(ctx); err != nil {
				t.Fatalf("Down: %v", err)
			}
		})
	}
}
