//go:build linux

package transparent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// RecordedTunnel is a tunnel that has a record in a namespace: one that
// is up, or one whose Up or Down stopped half-way. It is what a program
// without the tunnel's config can learn of it (the command's bare show).
type RecordedTunnel struct {
	Name     string
	Priority int    // of its newest layout: its rules are at Priority to Priority+2
	Table    int    // of its newest layout: its routes' table
	Keeper   string // the process that keeps it up (Keep), "pid 1234 (run)"; "" for none
}

// Recorded lists the tunnels that have a record in the network namespace
// the options name (WithNetNS; without it the caller's), sorted by name.
// It reads the namespace's state directory and takes no lock: a tunnel
// that an Up or Down is changing may be listed or not. It changes
// nothing; an unreadable record is an error (ErrUnsafeState) naming it.
func Recorded(opts ...Option) ([]RecordedTunnel, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ns, err := openNetNS(o.netnsPath)
	if err != nil {
		return nil, err
	}
	defer ns.handle.Close()
	dir, err := stateDirOf(ns)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no tunnel was ever up here
	}
	if err != nil {
		return nil, explainStatePermission(fmt.Errorf("list tunnels: %w", err))
	}
	var out []RecordedTunnel
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), recordPrefix)
		if !ok || !strings.HasSuffix(name, recordSuffix) {
			continue
		}
		name = strings.TrimSuffix(name, recordSuffix)
		r, err := readRecordFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("list tunnels: %w", err)
		}
		if r == nil {
			continue
		}
		out = append(out, RecordedTunnel{Name: name, Priority: r.Layouts[0].Priority, Table: r.Layouts[0].Table,
			Keeper: keeperOf(filepath.Join(dir, keeperPrefix+name+".lock"))})
	}
	slices.SortFunc(out, func(a, b RecordedTunnel) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// keeperOf is the holder of the keeper lock at path, "" when no process
// holds it. It opens an existing file only and never takes the lock for
// longer than the test.
func keeperOf(path string) string {
	f, err := openState(path, unix.O_RDONLY)
	if err != nil {
		return ""
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return "" // a keeper holds it exclusively
	}
	return lockHolder(f)
}
