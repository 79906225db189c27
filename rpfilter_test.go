package transparent_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestStrictRPFilter: with strict reverse-path filtering on the
// underlay, the port exception keeps working (the kernel's reverse lookup
// carries the ports, so it matches the exception rule), while the fwmark
// exception would lose the peer's WireGuard packets: Up refuses it with
// the sysctl to change, and changes nothing. With loose filtering, fwmark
// mode works.
func TestStrictRPFilter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rpFilter  string
		exception transparent.ExceptionMode
		refused   bool
	}{
		{"strict, port", "1", transparent.ExceptionPort, false},
		{"strict, fwmark", "1", transparent.ExceptionFwMark, true},
		{"loose, fwmark", "2", transparent.ExceptionFwMark, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newArticle(t)
			for _, ns := range []*testns.NS{w.A, w.B} {
				for _, conf := range []string{"all", "eth0"} {
					if err := ns.Do(func() error {
						return os.WriteFile("/proc/sys/net/ipv4/conf/"+conf+"/rp_filter", []byte(tc.rpFilter), 0o644)
					}); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfgA, cfgB := ends{fams: []family{ipv4}, exception: tc.exception}.configs(w)
			beforeA := dump(t, w.A)
			a, b := newTunnel(t, cfgA, w.A), newTunnel(t, cfgB, w.B)
			ctx := context.Background()
			errB, errA := b.Up(ctx), a.Up(ctx)
			if tc.refused {
				for _, err := range []error{errA, errB} {
					if !errors.Is(err, transparent.ErrStrictRPFilter) || !strings.Contains(err.Error(), "rp_filter = 1") {
						t.Errorf("Up = %v, want ErrStrictRPFilter naming the sysctl", err)
					}
				}
				expectSameDump(t, w.A, beforeA, "after a refused Up")
				return
			}
			if errA != nil || errB != nil {
				t.Fatalf("Up: A %v, B %v", errA, errB)
			}
			w.expectClient(t, w.A, ipv4.url(publicB), tunA)
			a.Down(ctx)
			b.Down(ctx)
		})
	}
}
