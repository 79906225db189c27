//go:build linux

package transparent

import (
	"fmt"
	"slices"
	"strings"
)

// notOurs refuses a table or chain of the tunnel's name that holds what
// the tunnel did not make: Up would replace its rules and sets, and Down
// delete it. Every rule the tunnel makes carries its comment
// ("wgtransparent <Name>", in iptables and nf_tables alike), its
// nf_tables table holds only its chains (snat_rules, postrouting, input)
// and sets (prefixes_<n>). Rules without the comment are accepted only
// when the record of the last Up says this firewall held the tunnel's
// chains (prevKind): a release before the comment made them.
func (s firewallState) notOurs(name string, recorded []string) error {
	what := s.foreign
	if !slices.Contains(recorded, s.fw.kind()) {
		what = append(what, s.unmarked...)
	}
	if len(what) == 0 {
		return nil
	}
	return fmt.Errorf("%s holds %s, which the tunnel did not make: %w (remove them, or choose another Name)", s.fw.where(s.family, name), strings.Join(what, ", "), ErrConflict)
}
