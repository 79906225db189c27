package transparent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestRecordedAndKeeperStatus: Recorded lists a namespace's tunnels from
// their records (none before Up and after Down), with the process that
// keeps each; a keeper's KeeperStatus reaches another Tunnel's Keep
// refusal (a *KeptError with the keeper's PID and the status, the newest
// one whole), and a Tunnel that does not keep the tunnel cannot report.
func TestRecordedAndKeeperStatus(t *testing.T) {
	w := newArticle(t)
	cfg := w.configA(transparent.PeerRouteRule)
	list := func() []transparent.RecordedTunnel {
		t.Helper()
		l, err := transparent.Recorded(transparent.WithNetNS(w.A.Path))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := list(); len(l) != 0 {
		t.Fatalf("Recorded before Up = %+v, want none", l)
	}
	a, b := newTunnel(t, cfg, w.A), newTunnel(t, cfg, w.A)
	ctx := context.Background()
	if err := a.Up(ctx); err != nil {
		t.Fatal(err)
	}
	c := cfg.WithDefaults()
	if l := list(); len(l) != 1 || l[0] != (transparent.RecordedTunnel{Name: c.Name, Priority: c.Priority, Table: c.Table}) {
		t.Errorf("Recorded after Up = %+v, want %s at %d, table %d, no keeper", l, c.Name, c.Priority, c.Table)
	}
	if err := b.KeeperStatus("ready"); err == nil {
		t.Error("KeeperStatus of a Tunnel that does not keep the tunnel succeeded")
	}
	release, err := a.Keep("run")
	if err != nil {
		t.Fatal(err)
	}
	holder := fmt.Sprintf("pid %d (run)", os.Getpid())
	if l := list(); len(l) != 1 || l[0].Keeper != holder {
		t.Errorf("Recorded while kept = %+v, want keeper %q", l, holder)
	}
	for _, status := range []string{"reload 1: failed: a long reason\nwith a second line", "reload 2: ok"} {
		if err := a.KeeperStatus(status); err != nil {
			t.Fatal(err)
		}
		_, err := b.Keep("reload")
		var kept *transparent.KeptError
		want := map[string]string{"reload 2: ok": "reload 2: ok"}[status]
		if want == "" {
			want = "reload 1: failed: a long reason with a second line"
		}
		if !errors.As(err, &kept) || kept.PID != os.Getpid() || kept.Holder != holder || kept.Status != want {
			t.Errorf("Keep while kept, status %q = %#v, want PID %d, status %q", status, err, os.Getpid(), want)
		}
	}
	release()
	if err := a.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if l := list(); len(l) != 0 {
		t.Errorf("Recorded after Down = %+v, want none", l)
	}
}
