package transparent

import (
	"slices"
	"testing"
)

func TestSplitRule(t *testing.T) {
	for _, tt := range []struct {
		line string
		want []string
	}{
		{`-A WGT-wg0 -s 10.0.0.1/32 -m comment --comment "wgtransparent wg0" -j SNAT --to-source 198.51.100.1`,
			[]string{"-A", "WGT-wg0", "-s", "10.0.0.1/32", "-m", "comment", "--comment", "wgtransparent wg0", "-j", "SNAT", "--to-source", "198.51.100.1"}},
		{`-A X -m comment --comment "say \"hi\"" -j ACCEPT`, []string{"-A", "X", "-m", "comment", "--comment", `say "hi"`, "-j", "ACCEPT"}},
		{`-A X -m comment --comment "" -j ACCEPT`, []string{"-A", "X", "-m", "comment", "--comment", "", "-j", "ACCEPT"}},
		{`-N WGT-wg0`, []string{"-N", "WGT-wg0"}},
	} {
		if got := splitRule(tt.line); !slices.Equal(got, tt.want) {
			t.Errorf("splitRule(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// TestRestoreQuote: what setChain writes for iptables-restore reads back
// as the same arguments (splitRule follows the same quoting rules).
func TestRestoreQuote(t *testing.T) {
	args := []string{"-s", "10.0.0.1/32", "-m", "comment", "--comment", `wgtransparent wg0`, "--comment", `a "quoted" \ word`, "--comment", ""}
	line := "-A WGT-wg0"
	for _, a := range args {
		line += " " + restoreQuote(a)
	}
	if got := splitRule(line); !slices.Equal(got[2:], args) {
		t.Errorf("splitRule(%q) = %q, want %q", line, got[2:], args)
	}
}
