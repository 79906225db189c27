//go:build linux

package transparent

import (
	"context"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// SetPeerState records a peer's state in the tunnel's record, as Watch
// does at a transition.
func SetPeerState(ctx context.Context, t *Tunnel, k wgtypes.Key, s PeerState) error {
	return t.recordPeerStates(ctx, []peerRecord{{PublicKey: k, State: s, Since: time.Now()}})
}
