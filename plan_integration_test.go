package transparent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestPlan: before Up every object is an add, Up applies exactly the
// plan, and afterwards every object is a keep; each line carries the
// equivalent command.
func TestPlan(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	cfg, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	tun := newTunnel(t, cfg, w.A)
	ctx := context.Background()
	before, err := tun.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := tun.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, c := range before {
		if c.Op != transparent.OpAdd && c.Op != transparent.OpReplace {
			t.Errorf("before Up: %v, want add or replace", c)
		}
		text = append(text, c.String())
	}
	for _, want := range []string{
		"ip address add 10.0.0.1/32 dev " + cfg.Name,
		"ip route add 203.0.113.2/32 dev " + cfg.Name + " table 123 proto 87",
		"ip rule add to 203.0.113.2/32 ipproto udp dport 51822 lookup main priority 455 proto 87",
		"ip rule add to 203.0.113.2/32 lookup 123 priority 456 proto 87",
		snatCommand(cfg.Name),
		jumpCommand(cfg.Name),
		"wg set " + cfg.Name + " private-key (hidden)",
	} {
		if !strings.Contains(strings.Join(text, "\n"), want) {
			t.Errorf("plan before Up lacks %q:\n%s", want, strings.Join(text, "\n"))
		}
	}
	if len(after) != len(before)-1 { // "set link up" has no keep of its own
		t.Errorf("%d lines after Up, %d before", len(after), len(before))
	}
	for _, c := range after {
		if c.Op != transparent.OpKeep {
			t.Errorf("after Up: %v, want keep", c)
		}
	}
	if transparent.Writes(tun) != len(before) {
		t.Errorf("Up made %d writes, the plan had %d changes", transparent.Writes(tun), len(before))
	}
}
