//go:build linux

package transparent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// state is what the kernel has of the tunnel's objects.
type state struct {
	link    netlink.Link   // nil when absent
	addrs   []netip.Prefix // on link, without kernel-made link-local ones
	routes  []route        // ours: RouteProtocol, in Table or on link in main
	onLink  map[route]bool // which of routes go through the tunnel's link
	rules   []ownedRule    // ours: RouteProtocol, at our priorities
	foreign []string       // objects in our way that are not ours
}

// ownedRule is a rule of ours as the kernel has it. spec is valid only when
// ok: a rule of ours with a shape we never make is removed from raw.
type ownedRule struct {
	spec rule
	ok   bool
	raw  netlink.Rule
}

// observe reads the kernel state of everything the config can own, and,
// when prev is set (the config last applied, by this Tunnel or recorded
// by an earlier process: record.go), of what that
// config owned: its stale rules and routes are then ours to remove. It
// makes no changes.
func (t *Tunnel) observe(c Config, prev *Config) (*state, error) {
	owners := []Config{c}
	if prev != nil {
		owners = append(owners, *prev)
	}
	s := &state{}
	link, err := t.nl.LinkByName(c.Name)
	switch {
	case errors.As(err, new(netlink.LinkNotFoundError)):
	case err != nil:
		return nil, fmt.Errorf("look up link %s: %w", c.Name, err)
	default:
		s.link = link
	}
	if err := t.observeRules(owners, s); err != nil {
		return nil, err
	}
	if err := t.observeRoutes(owners, s); err != nil {
		return nil, err
	}
	if s.link == nil {
		return s, nil
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return t.nl.AddrList(s.link, unix.AF_UNSPEC) })
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", c.Name, err)
	}
	for _, a := range addrs {
		if p := prefixOf(a.IPNet); !isLinkLocal(p) {
			s.addrs = append(s.addrs, p)
		}
	}
	return s, nil
}

// observeRules reads the rules at the priorities of owners. A rule there
// is ours when it carries RouteProtocol and looks up the owner's table (or
// main, for the exception rule); any other rule in the desired config's
// range is foreign.
func (t *Tunnel) observeRules(owners []Config, s *state) error {
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := retryDump(func() ([]netlink.Rule, error) { return t.nl.RuleList(fam) })
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		for _, nr := range rules {
			inRange, ours := false, false
			for _, c := range owners {
				if c.ownsPriority(nr.Priority) {
					inRange = true
					ours = ours || nr.Protocol == RouteProtocol &&
						(nr.Table == c.Table || nr.Table == tableMain && nr.Priority == c.Priority+exceptionOffset)
				}
			}
			switch {
			case ours:
				spec, ok := ruleFromNetlink(nr)
				s.rules = append(s.rules, ownedRule{spec: spec, ok: ok, raw: nr})
			case owners[0].ownsPriority(nr.Priority):
				s.foreign = append(s.foreign, fmt.Sprintf("rule %d (%s) is not ours", nr.Priority, nr))
			case inRange: // a stranger among the previous config's priorities: not in our way
			}
		}
	}
	return nil
}

// observeRoutes reads our routes in the owners' tables and, on our link,
// in main. Any route in the desired Table that is not ours is foreign.
func (t *Tunnel) observeRoutes(owners []Config, s *state) error {
	tables := []int{tableMain}
	for _, c := range owners {
		if !slices.Contains(tables, c.Table) {
			tables = append(tables, c.Table)
		}
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		for _, table := range tables {
			filter := &netlink.Route{Table: table}
			routes, err := retryDump(func() ([]netlink.Route, error) {
				return t.nl.RouteListFiltered(fam, filter, netlink.RT_FILTER_TABLE)
			})
			if err != nil {
				return fmt.Errorf("list routes in table %s: %w", tableName(table), err)
			}
			for _, r := range routes {
				ours := r.Protocol == RouteProtocol && r.Dst != nil
				onLink := s.link != nil && r.LinkIndex == s.link.Attrs().Index
				switch {
				case ours && (table != tableMain || onLink):
					rt := route{Dst: prefixOf(r.Dst), Table: table}
					s.routes = append(s.routes, rt)
					if onLink {
						if s.onLink == nil {
							s.onLink = map[route]bool{}
						}
						s.onLink[rt] = true
					}
				case table == owners[0].Table && !ours:
					s.foreign = append(s.foreign, fmt.Sprintf("route %s in table %d is not ours", r.Dst, table))
				}
			}
		}
	}
	return nil
}

// readDevice reads the WireGuard settings of the link through wgctrl.
func (t *Tunnel) readDevice(name string) (*wgtypes.Device, error) {
	wg, err := t.wgClient()
	if err != nil {
		return nil, err
	}
	d, err := wg.Device(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read device %s: %w", name, err)
	}
	return d, nil
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed meanwhile.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for range 5 {
		list, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return list, err
		}
	}
	return dump()
}

func isUp(l netlink.Link) bool { return l.Attrs().Flags&net.FlagUp != 0 }
