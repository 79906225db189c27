// Package state keeps what the tunnels of a network namespace share on
// disk, under Root (/run/wgtransparent): one directory per namespace
// (DirOf), owned by this process's user and closed to others, with a lock
// per tunnel and one for the namespace's claims (Acquire, TryAcquire),
// and the tunnels' records, read and written whole and atomically (Read,
// Write), refusing what this package did not make (ErrUnsafeState). The
// records' content belongs to the root package. It needs Linux.
package state
