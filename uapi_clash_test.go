//go:build linux

package transparent

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
)

// TestUAPIClashPlanned (issue 21, item 3): an embedded device of another
// namespace holding the name's UAPI socket makes Up's plan fail with that
// conflict, before any step, when the tunnel would get an embedded
// device; with kernel WireGuard (no socket) there is no clash.
func TestUAPIClashPlanned(t *testing.T) {
	c := articleA(PeerRouteRule).WithDefaults()
	clash := fmt.Errorf("the embedded device %s of network namespace /run/netns/other serves its socket: %w", c.Name, ErrConflict)
	for _, tc := range []struct {
		name      string
		wireguard bool
		backend   Backend
		want      error
	}{
		{"embedded, chosen by auto", false, BackendAuto, clash},
		{"embedded, asked for", true, BackendUserspace, clash},
		{"kernel WireGuard", true, BackendAuto, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newScenarioFake(tc.wireguard)
			k.clashes = map[string]error{c.Name: clash}
			o, err := observe(k, slog.New(slog.DiscardHandler), observation{cfg: c, backend: tc.backend, forUp: true})
			if err != nil {
				t.Fatal(err)
			}
			steps, err := planUp(c, o)
			if !errors.Is(err, tc.want) || tc.want != nil && len(steps) > 0 {
				t.Errorf("plan: %d steps, %v; want %v", len(steps), err, tc.want)
			}
		})
	}
}
