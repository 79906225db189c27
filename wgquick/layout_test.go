package wgquick

import (
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestTableAutoAndOff: a file without Table, or with Table = auto, asks
// for a free table and priority band (the library chooses them at up); an
// article-style file names its table in its rules and keeps it; Table =
// off is a plain tunnel whose hooks are all the file's own. Each renders
// back to what it parsed from.
func TestTableAutoAndOff(t *testing.T) {
	for _, tc := range []struct {
		name            string
		file            string
		table, priority int
		native          []string // lines RenderNative writes
	}{
		{"omitted", strings.Replace(interfaceA, "Table = 123\n", "", 1) + peerB, transparent.TableAuto, transparent.PriorityAuto, []string{"Table = auto", "Priority = auto"}},
		{"auto", strings.Replace(interfaceA, "Table = 123", "Table = AUTO", 1) + peerB, transparent.TableAuto, transparent.PriorityAuto, []string{"Table = auto", "Priority = auto"}},
		{"auto with a Priority", strings.Replace(interfaceA, "Table = 123", "Table = auto\nPriority = 700", 1) + peerB, transparent.TableAuto, 700, []string{"Table = auto", "Priority = 700"}},
		{"number", interfaceA + peerB, 123, transparent.DefaultPriority, []string{"Table = 123", "Priority = 455"}},
		{"from the rules", strings.Replace(interfaceA, "Table = 123\n", "PreUp = ip rule add to 10.0.0.2 table 200 priority 602\nPostDown = ip rule del to 10.0.0.2 table 200 priority 602\n", 1) + peerB, 200, 600, []string{"Table = 200", "Priority = 600"}},
		{"off", strings.Replace(interfaceA, "Table = 123", "Table = off\nPostUp = ip rule add to 10.0.0.2 table 200 priority 602", 1) + peerB, transparent.TableOff, 0, []string{"Table = off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, []byte(tc.file))
			if f.Config.Table != tc.table || f.Config.Priority != tc.priority {
				t.Errorf("Table %d, Priority %d; want %d, %d", f.Config.Table, f.Config.Priority, tc.table, tc.priority)
			}
			native := string(RenderNative(f))
			for _, line := range tc.native {
				if !strings.Contains(native, line+"\n") {
					t.Errorf("RenderNative lacks %q:\n%s", line, native)
				}
			}
			sameParse(t, f)
		})
	}
	off := mustParse(t, []byte(strings.Replace(interfaceA, "Table = 123", "Table = off\nPostUp = ip rule add to 10.0.0.2 table 200 priority 602", 1)+peerB))
	if len(off.PostUp) != 1 {
		t.Errorf("Table off: hooks kept = %q, want the file's rule as its own", off.PostUp)
	}
	plain := string(Render(off))
	if !strings.Contains(plain, "Table = off\n") || strings.Count(plain, "ip rule") != 1 {
		t.Errorf("Render of a plain tunnel writes rules of its own:\n%s", plain)
	}
}
