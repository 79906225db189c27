package transparent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// record is what a tunnel remembers of its last successful Up, next to its
// lock (lock.go): the settings that decide which rules, routes and chains
// are its own. A process that starts with a changed config (another
// Priority, Table or SNAT) reads it to find, and remove, what the old
// config made. Keys, addresses and peers are not in it.
type record struct {
	Priority int
	Table    int
	SNAT     SNATMode
}

func (t *Tunnel) recordPath() string { return strings.TrimSuffix(t.lockPath, ".lock") + ".json" }

// previous returns the config last applied: this Tunnel's, else the one
// recorded by an earlier process, else nil.
func (t *Tunnel) previous() *Config {
	if t.applied != nil {
		return t.applied
	}
	data, err := os.ReadFile(t.recordPath())
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.log.Warn("cannot read the record of the last Up; objects of an older config may stay", "err", err)
		}
		return nil
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.Priority == 0 || r.Table == 0 {
		t.log.Warn("ignoring a bad record of the last Up", "path", t.recordPath(), "err", err)
		return nil
	}
	prev := t.cfg
	prev.Priority, prev.Table, prev.SNAT = r.Priority, r.Table, r.SNAT
	return &prev
}

// remember records c as applied, or forgets it (c nil) after Down. A
// record that cannot be written costs only the cleanup after a restart
// with a changed config: it is logged, not returned, since the kernel
// already matches the config.
func (t *Tunnel) remember(c *Config) {
	t.applied = c
	if err := t.writeRecord(c); err != nil {
		t.log.Warn("cannot record the last Up; a restart with a changed config may leave the old config's rules", "err", err)
	}
}

func (t *Tunnel) writeRecord(c *Config) error {
	if c == nil {
		if err := os.Remove(t.recordPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove record of the last Up: %w", err)
		}
		return nil
	}
	data, err := json.Marshal(record{Priority: c.Priority, Table: c.Table, SNAT: c.SNAT})
	if err == nil {
		tmp := t.recordPath() + ".tmp"
		if err = os.WriteFile(tmp, data, 0o644); err == nil {
			err = os.Rename(tmp, t.recordPath())
		}
	}
	if err != nil {
		return fmt.Errorf("record the last Up: %w", err)
	}
	return nil
}
