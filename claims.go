//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/rulelayout"
	"github.com/wgtransparent/transparent/internal/state"
)

// Several tunnels of this package can share a network namespace. Each
// owns its link, its SNAT table or chain (both named after it) and the
// rules and routes of its layout: the rules at Priority to Priority+2 and
// the routes in Table. Those carry only RouteProtocol, the same for every
// tunnel: the kernel keeps no name on a rule or route, so it cannot tell
// which tunnel made one. The records can: each names its
// tunnel and lists the layouts it may have objects of, from before its
// first kernel write until its Down, whether its process is alive, dead or
// was killed half-way through an Up. So a tunnel learns the others from
// their records, and a layout is exclusive: Up (and Plan, Check) refuses
// priorities or a table that another tunnel's record claims, and Down
// leaves them alone. The kernel's objects still decide everything the
// records do not know about: a rule at our priorities or a route in our
// table that is not ours (another program's, or of a tunnel whose record
// is lost) is refused too (by observe). A tunnel's own objects are those
// its record lists, never those of its config alone: its record is
// written before its first write, so what carries our marks at priorities
// or in a table it does not list was made by another tunnel. A record
// that cannot be read is refused, never skipped.

// claim is another tunnel's record.
type claim struct {
	name   string
	record *record
}

// otherClaims reads the records of the other tunnels in the namespace.
// A record that cannot be read or understood is refused (unreadable, an
// error matching ErrUnsafeState, naming the file and the fix), together
// with the claims that could be read: which priorities and table its
// tunnel holds is unknown, so no layout can be claimed beside it, and its
// objects must never be taken for ours.
func (t *Tunnel) otherClaims() (claims []claim, unreadable error, err error) {
	entries, err := os.ReadDir(t.stateDir)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, state.ExplainPermission(fmt.Errorf("read the other tunnels' records: %w", err))
	}
	var bad []error
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), recordPrefix)
		if !ok || !strings.HasSuffix(name, recordSuffix) {
			continue
		}
		name = strings.TrimSuffix(name, recordSuffix)
		if name == t.cfg.Name {
			continue
		}
		path := filepath.Join(t.stateDir, e.Name())
		r, err := readRecordFile(path)
		if err != nil {
			bad = append(bad, fmt.Errorf("read tunnel %s's record: %w (which priorities and table it holds is unknown: restore the file, or if tunnel %s is gone, remove its rules and routes, proto %d, by hand, then the file)", name, err, name, RouteProtocol))
			continue
		}
		if r != nil {
			claims = append(claims, claim{name: name, record: r})
		}
	}
	return claims, errors.Join(bad...), nil
}

// claimConflicts reports every claim of another tunnel on c's table or
// priorities, as one error matching ErrConflict, or nil.
func claimConflicts(c Config, claims []claim) error {
	if !c.hasLayout() {
		return nil
	}
	var problems []string
	for _, o := range claims {
		for _, l := range o.record.Layouts {
			if l.Table == c.Table {
				problems = append(problems, fmt.Sprintf("table %d belongs to tunnel %s; choose another Table", c.Table, o.name))
			}
			if lo, hi := l.Priority, l.Priority+rulelayout.PeerOffset; c.Priority <= hi && lo <= c.Priority+rulelayout.PeerOffset {
				fix := fmt.Sprintf("choose a Priority from %d", hi+1)
				if below := lo - 1 - rulelayout.PeerOffset; below >= 1 {
					fix = fmt.Sprintf("choose a Priority up to %d or from %d", below, hi+1)
				}
				problems = append(problems, fmt.Sprintf("rule priorities %d-%d overlap tunnel %s's %d-%d; %s",
					c.Priority, c.Priority+rulelayout.PeerOffset, o.name, lo, hi, fix))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	problems = slices.Compact(problems)
	return fmt.Errorf("%s (or bring the other tunnel down): %w", strings.Join(problems, "; "), ErrConflict)
}

// unclaimed returns the configs among owners whose layout no other tunnel
// claims. Down removes objects of those only: a fresh Tunnel's config may
// name the priorities another tunnel now uses.
func unclaimed(owners []Config, claims []claim) []Config {
	var out []Config
	for _, c := range owners {
		if claimConflicts(c, claims) == nil {
			out = append(out, c)
		}
	}
	return out
}

// claim writes r as the tunnel's record under the namespace's lock, after
// checking once more that no other tunnel claims c's layout: two tunnels
// that plan at the same time cannot both claim one table.
func (t *Tunnel) claim(ctx context.Context, c Config, r *record) error {
	l, err := state.Acquire(ctx, t.log, t.stateDir, t.claimsPath(), "claim "+c.Name)
	if err != nil {
		return err
	}
	defer l.Release(false)
	claims, unreadable, err := t.otherClaims()
	if err != nil {
		return err
	}
	if unreadable != nil {
		return unreadable
	}
	if err := claimConflicts(c, claims); err != nil {
		return err
	}
	return t.writeRecord(r)
}

// RecordedTunnel is a tunnel that has a record in a namespace: one that
// is up, or one whose Up or Down stopped half-way. It is what a program
// without the tunnel's config can learn of it (the command's bare show).
type RecordedTunnel struct {
	Name     string
	Priority int    // of its newest layout: its rules are at Priority to Priority+2; 0 for a plain tunnel
	Table    int    // of its newest layout: its routes' table; TableOff for a plain tunnel
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
	ns, err := namespace.Open(o.netnsPath)
	if err != nil {
		return nil, err
	}
	defer ns.Handle.Close()
	dir, err := state.DirOf(ns)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no tunnel was ever up here
	}
	if err != nil {
		return nil, state.ExplainPermission(fmt.Errorf("list tunnels: %w", err))
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
		rt := RecordedTunnel{Name: name, Table: TableOff, Keeper: state.Holder(filepath.Join(dir, keeperPrefix+name+".lock"))}
		if len(r.Layouts) > 0 {
			rt.Priority, rt.Table = r.Layouts[0].Priority, r.Layouts[0].Table
		}
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b RecordedTunnel) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
