package transparent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestStructuredLogs: every change of Up and Down is logged with the
// constant message LogChange and attributes naming the operation and the
// object (rule with priority and table, route with table, the device's
// peers, the link), besides the tunnel's name; the step's words are in
// "step" for consoles.
func TestStructuredLogs(t *testing.T) {
	w := newArticle(t)
	var logs bytes.Buffer
	cfg := w.configA(transparent.PeerRouteRule)
	tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithBackend(testBackend()), transparent.WithFirewall(testFirewall()),
		transparent.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] != transparent.LogChange {
			continue
		}
		step, _ := r["step"].(string)
		op, _ := r["op"].(string)
		if r["tunnel"] != cfg.Name || op == "" || step == "" {
			t.Errorf("change without tunnel, op or step: %s", line)
		}
		kind := strings.Fields(step)[1] // "add rule 456 ...": rule
		seen[op+" "+kind] = true
		need := map[string][]string{"rule": {"rule", "priority", "table"}, "route": {"route", "table"}, "device": {"link", "peers"}, "link": {"link"}}[kind]
		for _, k := range need {
			if _, ok := r[k]; !ok {
				t.Errorf("change of a %s without %q: %s", kind, k, line)
			}
		}
		if kind == "rule" && !strings.Contains(step, r["rule"].(string)) {
			t.Errorf("rule attribute %q is not the step's rule: %s", r["rule"], line)
		}
	}
	for _, want := range []string{"add rule", "add route", "add device", "add link", "remove rule"} {
		if !seen[want] {
			t.Errorf("no %q change logged (saw %v):\n%s", want, seen, logs.String())
		}
	}
}
