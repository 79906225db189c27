package transparent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestConfigChangeAfterRestart: a process brings the tunnel up and ends
// (Close, as at a restart), and the next process starts with another
// config: new priorities, table and no SNAT. Its Up removes what the old
// config made, from the record the last Up left, and its Down leaves the
// namespace, nat tables included, as it was.
func TestConfigChangeAfterRestart(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	before := fullDump(t, w.A)
	old, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	changed := old
	changed.Priority, changed.Table, changed.SNAT = 1000, 77, transparent.SNATOff
	ctx := context.Background()

	first := newTunnel(t, old, w.A)
	if err := first.Up(ctx); err != nil {
		t.Fatalf("Up with the old config: %v", err)
	}
	first.Close()

	next := newTunnel(t, changed, w.A)
	if err := next.Up(ctx); err != nil {
		t.Fatalf("Up with the changed config: %v", err)
	}
	if err := next.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	d := fullDump(t, w.A)
	for _, stale := range []string{"rule4 455:", "rule4 456:", "rule4 457:", "table 123", "WGT-"} {
		if strings.Contains(d, stale) {
			t.Errorf("the old config's %q is still there:\n%s", stale, d)
		}
	}
	for _, fresh := range []string{"rule4 1000:", "rule4 1001:", "rule4 1002:", "table 77"} {
		if !strings.Contains(d, fresh) {
			t.Errorf("the new config's %q is missing:\n%s", fresh, d)
		}
	}
	if err := next.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	expectSame(t, "after Down", before, fullDump(t, w.A))
}
