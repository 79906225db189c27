package transparent_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// TestCapabilitiesWithoutRoot: a process that is not root but holds
// CAP_NET_ADMIN and CAP_SYS_ADMIN (user nobody, with ambient
// capabilities) meets root's live state directory: Up fails naming the
// directory, its owner and the fix (run as uid 0), never telling to
// remove it, and changes nothing.
func TestCapabilitiesWithoutRoot(t *testing.T) {
	w := newArticle(t)
	w.upB(t) // root's state directory exists, as on a host where root runs tunnels
	before := dump(t, w.A)
	req, err := json.Marshal(map[string]any{"Config": w.configA(transparent.PeerRouteRule), "NetNS": w.A.Path, "Backend": testBackend()})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(nobodyBinary(t), "-test.run=^$")
	child.Env = []string{crashChildEnv + "=" + string(req)}
	child.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
		AmbientCaps: []uintptr{unix.CAP_NET_ADMIN, unix.CAP_SYS_ADMIN},
	}
	out, err := child.CombinedOutput()
	msg := string(out)
	if err == nil || !strings.Contains(msg, "up failed: ") || !hasAll(msg, "/run/wgtransparent", "root (uid 0)", "runs as uid 65534", "run as uid 0") || strings.Contains(msg, "remove") {
		t.Errorf("child as nobody with CAP_NET_ADMIN and CAP_SYS_ADMIN: %v\n%s\nwant an error naming root's state directory and to run as uid 0, not to remove it", err, msg)
	}
	expectSameDump(t, w.A, before, "after Up as nobody with capabilities")
}

// TestOnlyNetAdminEntersNamespace: a root process with CAP_NET_ADMIN
// alone cannot enter another namespace (WithNetNS): the error matches
// os.ErrPermission, names CAP_SYS_ADMIN and the namespace's path, and
// nothing changes there.
func TestOnlyNetAdminEntersNamespace(t *testing.T) {
	w := newArticle(t)
	before := dump(t, w.A)
	req, err := json.Marshal(map[string]any{"Config": w.configA(transparent.PeerRouteRule), "NetNS": w.A.Path, "Backend": testBackend()})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"="+string(req))
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	testns.StartRestricted(t, w.B, unix.CAP_NET_ADMIN, child) // from another namespace
	child.Wait()
	if msg := out.String(); !strings.Contains(msg, "up failed: permission=true: ") || !hasAll(msg, "CAP_SYS_ADMIN", w.A.Path) {
		t.Errorf("child with CAP_NET_ADMIN alone, for another namespace:\n%s\nwant a permission error naming CAP_SYS_ADMIN and %s", msg, w.A.Path)
	}
	expectSameDump(t, w.A, before, "after Up without CAP_SYS_ADMIN")
}

// TestSNATWithoutCapabilities: a root process without capabilities, whose
// tunnel has SNAT through iptables, gets a permission error naming
// CAP_NET_ADMIN (iptables itself only says "you must be root"), and
// nothing changes.
func TestSNATWithoutCapabilities(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	cfgA, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	before := fullDump(t, w.A)
	for _, fw := range []transparent.Firewall{transparent.FirewallIPTablesNFT, transparent.FirewallIPTablesLegacy} {
		req, err := json.Marshal(map[string]any{"Config": cfgA, "Firewall": fw, "Backend": testBackend()})
		if err != nil {
			t.Fatal(err)
		}
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), capsChildEnv+"="+string(req))
		var out strings.Builder
		child.Stdout, child.Stderr = &out, &out
		testns.StartRestricted(t, w.A, -1, child)
		child.Wait()
		if msg := out.String(); !strings.HasPrefix(msg, "failed: permission=true: ") || !strings.Contains(msg, "lacks CAP_NET_ADMIN") {
			t.Errorf("firewall %d, child without capabilities:\n%s\nwant a permission error naming CAP_NET_ADMIN", fw, msg)
		}
	}
	expectSame(t, "A after Up with SNAT without capabilities", before, fullDump(t, w.A))
}

// hasAll reports whether s contains every one of subs.
func hasAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
