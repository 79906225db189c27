//go:build linux

package transparent

import (
	"slices"

	"golang.org/x/sys/unix"
)

// families returns the IP families (unix.AF_INET, unix.AF_INET6) that
// the peers route into the tunnel, IPv4 first.
func (c Config) families() []int {
	var v4, v6 bool
	for _, p := range c.Peers {
		for _, pr := range append(slices.Clip(p.AllowedIPs), p.Transparent...) {
			v4 = v4 || pr.Addr().Is4()
			v6 = v6 || pr.Addr().Is6()
		}
	}
	var out []int
	if v4 {
		out = append(out, unix.AF_INET)
	}
	if v6 {
		out = append(out, unix.AF_INET6)
	}
	return out
}
