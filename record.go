//go:build linux

package transparent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/wgtransparent/transparent/internal/netfilter"
	"github.com/wgtransparent/transparent/internal/state"
)

// record is what a tunnel keeps on disk, next to its lock: the
// layouts whose objects may be in the kernel. It is the tunnel's claim on
// its priorities and table (claim) and how any process, the one that
// made them or a fresh one after a crash, finds the rules, routes and
// SNAT chains to remove. Every operation reads it under the tunnel's lock,
// so a long-lived Tunnel acts on what the last Up of any process made.
// Keys and addresses are not in it; the state of each peer that failed
// over is, by its public key.
//
// Up writes it before its first kernel write, with the new layout and
// every recorded one (an Up that dies half-way leaves a record of all it
// may have made), and after success with the new layout alone; Down
// removes it once everything is gone.
type record struct {
	Layouts []layout // the newest first
	// Plain marks the record of a plain tunnel (TableOff), which has no
	// layout of its own: it says that the tunnel is up, to other
	// processes and to Repair, which takes a missing record for a Down.
	Plain bool `json:",omitempty"`
	// Created lists the nat tables and chains of iptables-nft that the
	// tunnel's Ups created (netfilter.Adopter), for Down to remove.
	Created []string `json:",omitempty"`
	// Peers holds the state of the peers with a Fallback that Watch
	// judged, written at each transition.
	Peers []peerRecord `json:",omitempty"`
}

// layout is one config's claim: the settings that decide which rules,
// routes and chains are a tunnel's.
type layout struct {
	Priority int
	Table    int
	SNAT     SNATMode `json:",omitempty"`
	Families []int    `json:",omitempty"` // the IP families of its SNAT chains
	Firewall string   `json:",omitempty"` // the kind of firewall that holds them
}

// layoutOf is c's layout; fw is the firewall of its SNAT rules, if any.
func layoutOf(c Config, fw netfilter.Driver) layout {
	l := layout{Priority: c.Priority, Table: c.Table}
	if c.SNAT != SNATOff {
		l.SNAT, l.Families = c.SNAT, c.families()
		if fw != nil {
			l.Firewall = fw.Kind()
		}
	}
	return l
}

// withConfig is r.with(c's layout), or r itself when c has no layout of
// its own (TableOff).
func (r *record) withConfig(c Config, fw netfilter.Driver) *record {
	if c.Table == TableOff {
		out := record{Plain: true}
		if r != nil {
			out = *r
			out.Plain = true
		}
		return &out
	}
	if !c.hasLayout() {
		return r
	}
	return r.with(layoutOf(c, fw))
}

// withCreated is r listing created as what the tunnel's Ups created.
func (r *record) withCreated(created []string) *record {
	if r == nil {
		return nil
	}
	out := *r
	out.Created = created
	return &out
}

// firewallKind is the kind of firewall that holds the layout's SNAT
// chains, or "" when it has none.
func (l layout) firewallKind() string {
	if l.SNAT == SNATOff {
		return ""
	}
	if l.Firewall == "" { // recorded before the firewall was known
		return netfilter.KindIPTables
	}
	return l.Firewall
}

// owners are c with each recorded layout: the configs whose rules and
// routes the recorded Ups made.
func (r *record) owners(c Config) []Config {
	if r == nil {
		return nil
	}
	owners := make([]Config, len(r.Layouts))
	for i, l := range r.Layouts {
		owners[i] = c
		owners[i].Priority, owners[i].Table, owners[i].SNAT = l.Priority, l.Table, l.SNAT
	}
	return owners
}

// snatFamilies returns the IP families whose nat tables can hold a chain
// of the tunnel: those of c when it has SNAT, and those of every recorded
// layout with SNAT.
func (r *record) snatFamilies(c Config) []int {
	var fams []int
	if c.SNAT != SNATOff {
		fams = c.families()
	}
	if r != nil {
		for _, l := range r.Layouts {
			for _, f := range l.Families {
				if l.SNAT != SNATOff && !slices.Contains(fams, f) {
					fams = append(fams, f)
				}
			}
		}
	}
	slices.Sort(fams)
	return fams
}

// firewallKinds returns the kinds of firewall that hold recorded SNAT
// chains.
func (r *record) firewallKinds() []string {
	var kinds []string
	if r != nil {
		for _, l := range r.Layouts {
			if k := l.firewallKind(); k != "" && !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
	}
	return kinds
}

// with returns a record of l followed by r's other layouts, and what r's
// Ups created.
func (r *record) with(l layout) *record {
	out := &record{Layouts: []layout{l}}
	if r != nil {
		out.Created = slices.Clone(r.Created)
		out.Peers = slices.Clone(r.Peers)
		for _, old := range r.Layouts {
			if !slices.ContainsFunc(out.Layouts, func(x layout) bool { return sameLayout(x, old) }) {
				out.Layouts = append(out.Layouts, old)
			}
		}
	}
	return out
}

// creating returns r with keys added to what its Ups created: what an Up
// is about to create, listed before it does (mayCreate).
func (r *record) creating(keys []string) *record {
	if r == nil || len(keys) == 0 {
		return r
	}
	out := *r
	out.Created = slices.Clone(r.Created)
	for _, k := range keys {
		if !slices.Contains(out.Created, k) {
			out.Created = append(out.Created, k)
		}
	}
	return &out
}

func sameLayout(a, b layout) bool {
	return a.Priority == b.Priority && a.Table == b.Table && a.SNAT == b.SNAT &&
		slices.Equal(a.Families, b.Families) && a.Firewall == b.Firewall
}

// recordSuffix ends a record's file name, stateDir/tunnel-<Name>.json.
const (
	recordPrefix = "tunnel-"
	recordSuffix = ".json"
)

func (t *Tunnel) recordPath() string {
	return filepath.Join(t.stateDir, recordPrefix+t.cfg.Name+recordSuffix)
}

// readRecord reads the tunnel's record, or nil when it has none. A record
// that cannot be read or understood (a symlink, a FIFO, another user's
// file, content this package did not write) is refused with
// ErrUnsafeState: it is the only list of what the tunnel may have made, so
// ignoring it could leave objects behind or take another's for ours.
func (t *Tunnel) readRecord() (*record, error) {
	r, err := readRecordFile(t.recordPath())
	if err != nil {
		return nil, fmt.Errorf("read the tunnel's record: %w (it lists what the tunnel may have made: remove the tunnel's rules and routes, proto %d, by hand, then the file)", err, RouteProtocol)
	}
	return r, nil
}

// readRecordFile reads a record; a missing file is no record and no
// error. A file that is not a record this package wrote is ErrUnsafeState.
func readRecordFile(path string) (*record, error) {
	data, err := state.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", path, ErrUnsafeState, err)
	}
	for _, l := range r.Layouts {
		if l.Priority <= 0 || l.Table <= 0 {
			return nil, fmt.Errorf("read %s: layout %+v has no priority or table: %w", path, l, ErrUnsafeState)
		}
	}
	if len(r.Layouts) == 0 && !r.Plain {
		return nil, nil
	}
	return &r, nil
}

// created is what the record says iptables-nft created, or nil.
func (r *record) created() []string {
	if r == nil {
		return nil
	}
	return r.Created
}

// writeRecord replaces the tunnel's record with r, or removes it (r nil).
// It writes nothing when the file already says the same, so a repeated Up
// touches no file.
func (t *Tunnel) writeRecord(r *record) error {
	path := t.recordPath()
	if r == nil || len(r.Layouts) == 0 && !r.Plain {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove the tunnel's record: %w", err)
		}
		return nil
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("record the tunnel's layout: %w", err)
	}
	if old, err := state.Read(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := state.Write(path, data); err != nil {
		return fmt.Errorf("record the tunnel's layout: %w", err)
	}
	return nil
}

// The tunnel's files in the state directory: its lock and the
// namespace's, next to its record.
func (t *Tunnel) lockPath() string   { return filepath.Join(t.stateDir, "tunnel-"+t.cfg.Name+".lock") }
func (t *Tunnel) claimsPath() string { return filepath.Join(t.stateDir, state.ClaimsLock) }

// lock takes the tunnel's lock for verb and returns the function that
// releases it. That function removes the lock file, and the namespace's
// state directory once it is empty, when the tunnel has no record left:
// after Down, or after Plan or Check of a tunnel that is not up.
func (t *Tunnel) lock(ctx context.Context, verb string) (unlock func(), err error) {
	l, err := state.Acquire(ctx, t.log, t.stateDir, t.lockPath(), verb)
	if err != nil {
		return nil, err
	}
	return func() {
		_, err := os.Lstat(t.recordPath())
		done := errors.Is(err, os.ErrNotExist)
		l.Release(done)
		if done {
			t.removeStaleKeeper()
			t.removeStateDir()
		}
	}, nil
}

// removeStateDir removes the namespace's state directory when no tunnel
// has a file left in it. It takes the namespace's lock without waiting: a
// tunnel that holds it is using the directory.
func (t *Tunnel) removeStateDir() {
	entries, err := os.ReadDir(t.stateDir)
	if err != nil || len(entries) > 1 || len(entries) == 1 && entries[0].Name() != state.ClaimsLock {
		return
	}
	l, err := state.TryAcquire(t.stateDir, t.claimsPath(), "cleanup")
	if err != nil {
		return
	}
	l.Release(true)
	os.Remove(t.stateDir) // fails, harmlessly, if a tunnel made a file meanwhile
}
