package transparent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// record is what a tunnel remembers of its last successful Up, in memory
// and in a file next to its lock (lock.go): the settings that decide which
// rules, routes and chains are its own. A process that starts with a
// changed config (another Priority, Table, SNAT or IP families) reads it
// to find, and remove, what the old config made. Keys, addresses and peers
// are not in it.
type record struct {
	Priority int
	Table    int
	SNAT     SNATMode
	Families []int  // the IP families of the SNAT chains' config
	Firewall string `json:",omitempty"` // the kind of firewall that holds them
	// Created lists the nat tables and chains of iptables-nft that the
	// tunnel's Ups created (firewall_iptables_nft.go), for Down to remove.
	Created []string `json:",omitempty"`
}

// recordOf records c; fw is the firewall of its SNAT rules, if any.
func recordOf(c Config, fw firewall) *record {
	r := &record{Priority: c.Priority, Table: c.Table, SNAT: c.SNAT, Families: c.families()}
	if c.SNAT != SNATOff && fw != nil {
		r.Firewall = fw.kind()
	}
	if ipt, ok := fw.(*iptablesFirewall); ok {
		r.Created = ipt.created()
	}
	return r
}

// firewallKind is the kind of firewall that holds the record's SNAT
// chains, or "" when it has none.
func (r *record) firewallKind() string {
	if r == nil || r.SNAT == SNATOff {
		return ""
	}
	if r.Firewall == "" { // a record of a release with only iptables
		return kindIPTables
	}
	return r.Firewall
}

// owner is c with the recorded settings: the config whose rules and
// routes the record's Up made.
func (r *record) owner(c Config) *Config {
	if r == nil {
		return nil
	}
	c.Priority, c.Table, c.SNAT = r.Priority, r.Table, r.SNAT
	return &c
}

// snatFamilies returns the IP families whose nat tables can hold a chain
// of the tunnel: those of c when it has SNAT, and those of the record's
// Up when it had.
func (r *record) snatFamilies(c Config) []int {
	var fams []int
	if c.SNAT != SNATOff {
		fams = c.families()
	}
	if r != nil && r.SNAT != SNATOff {
		for _, f := range r.Families {
			if !slices.Contains(fams, f) {
				fams = append(fams, f)
			}
		}
	}
	slices.Sort(fams)
	return fams
}

func (t *Tunnel) recordPath() string { return strings.TrimSuffix(t.lockPath, ".lock") + ".json" }

// previous returns the record of the last Up: this Tunnel's, else the
// one an earlier process left, else nil.
func (t *Tunnel) previous() *record {
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
	return &r
}

// remember records c as applied, or forgets it (c nil) after Down. A
// record that cannot be written costs only the cleanup after a restart
// with a changed config: it is logged, not returned, since the kernel
// already matches the config.
func (t *Tunnel) remember(c *Config) {
	t.applied = nil
	if c != nil {
		t.applied = recordOf(*c, t.fw)
	}
	if err := t.writeRecord(t.applied); err != nil {
		t.log.Warn("cannot record the last Up; a restart with a changed config may leave the old config's rules", "err", err)
	}
}

func (t *Tunnel) writeRecord(r *record) error {
	if r == nil {
		if err := os.Remove(t.recordPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove record of the last Up: %w", err)
		}
		return nil
	}
	data, err := json.Marshal(r)
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
