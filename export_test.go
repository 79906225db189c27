package transparent

// Test hooks for the external tests.

// ErrInjected is the error of a write failed by FailWrite.
var ErrInjected = errInjected

// FailWrite makes the k-th kernel write of t's next Up or Down fail
// without being made; 0 turns it off.
func FailWrite(t *Tunnel, k int) { t.failWrite = k }

// Writes returns the number of kernel writes t's last Up or Down made.
func Writes(t *Tunnel) int { return t.writes }
