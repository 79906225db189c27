package transparent

import "time"

// Test hooks for the external tests.

// ErrInjected is the error of a write failed by FailWrite.
var ErrInjected = errInjected

// FailWrite makes the k-th kernel write of t's next Up or Down fail
// without being made; 0 turns it off.
func FailWrite(t *Tunnel, k int) { t.failWrite = k }

// Writes returns the number of kernel writes t's last Up or Down made.
func Writes(t *Tunnel) int { return t.writes }

// SetStepDelay makes t pause for d before each kernel write, so that a
// test can kill a process in the middle of an Up.
func SetStepDelay(t *Tunnel, d time.Duration) { t.stepDelay = d }

// LinkGroup is the group a kernel link of ours is created in.
const LinkGroup = linkGroup

// OwnerPath is the owner file of the embedded device name, shared by all
// namespaces like its UAPI socket.
func OwnerPath(name string) string { return ownerPath(name) }
