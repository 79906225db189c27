//go:build linux

package transparent

import (
	"context"
	"fmt"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/rulelayout"
	"github.com/wgtransparent/transparent/internal/state"
	"golang.org/x/sys/unix"
)

// A tunnel's layout is its table and its band of three rule priorities.
// TableAuto and PriorityAuto ask for free ones: the values the tunnel's
// record holds when it has one (an Up of any process chose them), else
// the first free ones of the ranges, chosen under the namespace's claims
// lock and written as the tunnel's record before the lock is released,
// so that two Ups at the same time never choose the same.

// hasLayout reports whether c has a table and priorities of its own: not
// with TableOff, nor with an auto value that is not resolved yet.
func (c Config) hasLayout() bool { return c.Table > 0 && c.Priority > 0 }

// isAuto reports whether c asks for a table or priorities to be chosen.
func (c Config) isAuto() bool { return c.Table == TableAuto || c.Priority == PriorityAuto }

// inUse is what the namespace's kernel uses: the tables that rules look
// up or routes are in, and the priorities of rules.
type inUse struct {
	tables     map[int]bool
	priorities map[int]bool
}

// readInUse reads the tables and priorities every rule and route of the
// namespace uses, whoever made them.
func readInUse(k kernel) (inUse, error) {
	u := inUse{tables: map[int]bool{}, priorities: map[int]bool{}}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := k.Rules(fam)
		if err != nil {
			return u, err
		}
		for _, r := range rules {
			u.priorities[r.Priority] = true
			u.tables[r.Table] = true
		}
		routes, err := k.Routes(fam, unix.RT_TABLE_UNSPEC)
		if err != nil {
			return u, err
		}
		for _, r := range routes {
			u.tables[r.Table] = true
		}
	}
	return u, nil
}

// recordedLayout fills c's auto values from the newest layout of the
// tunnel's record; ok is false when an auto value stays unresolved (no
// record).
func recordedLayout(c Config, rec *record) (Config, bool) {
	if rec != nil && len(rec.Layouts) > 0 {
		l := rec.Layouts[0]
		if c.Table == TableAuto {
			c.Table = l.Table
		}
		if c.Priority == PriorityAuto {
			c.Priority = l.Priority
		}
	}
	return c, !c.isAuto()
}

// chooseLayout fills c's auto values with the first table and priority
// band of the auto ranges that neither the kernel (u) nor another
// tunnel's record (claims) uses. It is a pure function; the error matches
// ErrConflict when a range is full.
func chooseLayout(c Config, u inUse, claims []claim) (Config, error) {
	if c.Table == TableAuto {
		c.Table = 0
		for t := AutoTableFirst; t <= AutoTableLast && c.Table == 0; t++ {
			if t == inet.TableDefault || t == inet.TableMain || t == inet.TableLocal || u.tables[t] || claimsTable(claims, t) {
				continue
			}
			c.Table = t
		}
		if c.Table == 0 {
			return c, fmt.Errorf("choose a table (Table = auto): every table from %d to %d is in use: set a Table: %w", AutoTableFirst, AutoTableLast, ErrConflict)
		}
	}
	if c.Priority == PriorityAuto {
		c.Priority = 0
		for p := AutoPriorityFirst; p <= AutoPriorityLast && c.Priority == 0; p += rulelayout.PeerOffset + 1 {
			if u.priorities[p] || u.priorities[p+1] || u.priorities[p+2] || claimsPriority(claims, p) {
				continue
			}
			c.Priority = p
		}
		if c.Priority == 0 {
			return c, fmt.Errorf("choose rule priorities (Priority = auto): every band from %d to %d has a rule: set a Priority: %w", AutoPriorityFirst, AutoPriorityLast+rulelayout.PeerOffset, ErrConflict)
		}
	}
	return c, nil
}

func claimsTable(claims []claim, table int) bool {
	for _, o := range claims {
		for _, l := range o.record.Layouts {
			if l.Table == table {
				return true
			}
		}
	}
	return false
}

func claimsPriority(claims []claim, p int) bool {
	for _, o := range claims {
		for _, l := range o.record.Layouts {
			if p <= l.Priority+rulelayout.PeerOffset && l.Priority <= p+rulelayout.PeerOffset {
				return true
			}
		}
	}
	return false
}

// resolveLayout returns c with its auto values resolved, from the
// tunnel's record rec or, without one, chosen. With reserve (Up) the
// choice is made under the namespace's claims lock and written as the
// tunnel's record before that lock is released: reserved is then true,
// and the caller restores rec when it makes no change after all. Without
// reserve (Plan, Check) nothing is written, and the values are what Up
// would choose now.
func (t *Tunnel) resolveLayout(ctx context.Context, c Config, rec *record, reserve bool) (_ Config, chosen, reserved bool, err error) {
	if c, ok := recordedLayout(c, rec); ok {
		return c, false, false, nil
	}
	choose := func() error {
		claims, unreadable, err := t.otherClaims()
		if err != nil {
			return err
		}
		if unreadable != nil {
			return unreadable
		}
		u, err := readInUse(t.k)
		if err != nil {
			return fmt.Errorf("read the tables and priorities in use: %w", err)
		}
		c, err = chooseLayout(c, u, claims)
		return err
	}
	if !reserve {
		return c, true, false, choose()
	}
	l, err := state.Acquire(ctx, t.log, t.stateDir, t.claimsPath(), "choose a layout for "+c.Name)
	if err != nil {
		return c, false, false, err
	}
	defer l.Release(false)
	if err := choose(); err != nil {
		return c, false, false, err
	}
	if err := t.writeRecord(rec.with(layout{Priority: c.Priority, Table: c.Table})); err != nil {
		return c, false, false, err
	}
	t.log.Info("chose the tunnel's layout", "table", c.Table, "priority", c.Priority)
	return c, true, true, nil
}

// layoutChange is Plan's line for a layout that TableAuto or PriorityAuto
// resolved: chosen now, or the recorded one.
func layoutChange(c Config, chosen bool) Change {
	how := "recorded"
	if chosen {
		how = "chosen now, recorded by up"
	}
	s := fmt.Sprintf("layout: table %d, priorities %d-%d (%s)", c.Table, c.Priority, c.Priority+rulelayout.PeerOffset, how)
	return Change{Op: OpKeep, Step: s, Command: "# " + s}
}

// Layout returns the tunnel's config (with defaults) whose TableAuto and
// PriorityAuto are the values its record holds: those an Up of any
// process chose. They stay auto while the tunnel has no record (it is
// down). It changes nothing.
func (t *Tunnel) Layout(ctx context.Context) (Config, error) {
	end, err := t.begin(ctx, "layout")
	if err != nil {
		return Config{}, err
	}
	defer end()
	rec, err := t.readRecord()
	if err != nil {
		return Config{}, namespace.ExplainPermission(fmt.Errorf("layout %s: %w", t.cfg.Name, err))
	}
	c, _ := recordedLayout(t.cfg, rec)
	return c, nil
}
