package transparent

import (
	"time"

	"github.com/wgtransparent/transparent/internal/wgdevice"
)

// Test hooks for the external tests.

// ErrInjected is the error of a write failed by FailWrite.
var ErrInjected = errInjected

// FailWrite makes the k-th kernel write from now on fail without being
// made (t's next Up or Down counts from 1); 0 turns it off.
func FailWrite(t *Tunnel, k int) {
	f := wrapFaults(t, 0)
	f.failAt, f.writes = k, 0
}

// Writes returns the number of kernel writes t's last Up or Down made.
func Writes(t *Tunnel) int { return t.writes }

// SetStepDelay makes t pause for d before each kernel write, so that a
// test can kill a process in the middle of an Up.
func SetStepDelay(t *Tunnel, d time.Duration) { wrapFaults(t, d) }

// LinkGroup is the group a kernel link of ours is created in.
const LinkGroup = wgdevice.LinkGroup

// OwnerPath is the owner file of the embedded device name, shared by all
// namespaces like its UAPI socket.
func OwnerPath(name string) string { return wgdevice.OwnerPath(name) }
