//go:build linux

package netfilter

import (
	"net/netip"
	"os/exec"
	"testing"

	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { testns.GuardMain(m) }

// TestLegacyStamp: in a namespace of its own, the kernel's summary of
// iptables-legacy's nat table changes when the tunnel's chain is made,
// filled, flushed, jumped to or deleted, in both IP families, and stays
// as it is when a rule is replaced by one of the same size (which
// Watch's full read, every fullReadEvery, finds instead). Other variants
// have no Stamp.
func TestLegacyStamp(t *testing.T) {
	ns := testns.New(t, "stamp")
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		t.Fatal("iptables-legacy is not installed: run the tests through ./test.sh, which installs it")
	}
	h, err := namespace.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Handle.Close()
	fw, err := newIPTables(h, WantIPTablesLegacy)
	if err != nil {
		t.Fatal(err)
	}
	nft, err := newIPTables(h, WantIPTablesNFT)
	if err == nil {
		if _, err := nft.Stamp(unix.AF_INET); err == nil {
			t.Error("iptables-nft has a Stamp")
		}
	}
	for _, f := range []struct {
		family   int
		src, dst string
		to, to2  string
	}{
		{unix.AF_INET, "10.0.0.1/32", "203.0.113.2/32", "198.51.100.1", "198.51.100.9"},
		{unix.AF_INET6, "fd00::1/128", "2001:db8:b::2/128", "2001:db8:a::1", "2001:db8:a::9"},
	} {
		const name = "wgstamp"
		stamp := func() string {
			t.Helper()
			s, err := fw.Stamp(f.family)
			if err != nil {
				t.Fatalf("Stamp: %v", err)
			}
			return s
		}
		rule := func(to string) []NATRule {
			return []NATRule{{Src: netip.MustParsePrefix(f.src), Dst: netip.MustParsePrefix(f.dst), To: netip.MustParseAddr(to)}}
		}
		last := stamp()
		step := func(what string, changes bool, write func() error) {
			t.Helper()
			if err := write(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			now := stamp()
			if (now != last) != changes {
				t.Errorf("family %d, %s: Stamp changed = %v, want %v", f.family, what, now != last, changes)
			}
			last = now
		}
		step("chain made and filled", true, func() error { return fw.SetChain(f.family, name, rule(f.to)) })
		step("jump added", true, func() error { return fw.AddJump(f.family, name, HookOutbound) })
		step("rule replaced by one of the same size", false, func() error { return fw.SetChain(f.family, name, rule(f.to2)) })
		step("chain flushed", true, func() error { return fw.SetChain(f.family, name, nil) })
		step("jump removed", true, func() error { return fw.DelJump(f.family, name, HookOutbound) })
		step("chain deleted", true, func() error { return fw.DeleteChain(f.family, name) })
	}
}
