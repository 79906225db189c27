//go:build linux

package netfilter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent/internal/sentinel"
)

// NotOurs refuses a table or chain of the tunnel's name that holds what
// the tunnel did not make: Up would replace its rules and sets, and Down
// delete it. Every rule the tunnel makes carries its comment
// ("wgtransparent <Name>", in iptables and nf_tables alike), its
// nf_tables table holds only its chains (snat_rules, postrouting, input)
// and sets (prefixes_<n>). Rules without the comment are accepted only
// when the record says this firewall held the tunnel's chains (recorded,
// the kinds of the recorded firewalls): a release before the comment made
// them.
func (s ChainState) NotOurs(name string, recorded []string) error {
	what := s.Foreign
	if !slices.Contains(recorded, s.Driver.Kind()) {
		what = append(what, s.Unmarked...)
	}
	if len(what) == 0 {
		return nil
	}
	return fmt.Errorf("%s holds %s, which the tunnel did not make: %w (remove them, or choose another Name)", s.Driver.Where(s.Family, name), strings.Join(what, ", "), sentinel.ErrConflict)
}
