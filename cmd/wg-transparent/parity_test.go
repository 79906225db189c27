package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestChooseDNS: DNS goes through resolvconf when it is installed, else
// through systemd-resolved's resolvectl when systemd-resolved runs and the
// tunnel is in the host's namespace, else through nothing (up then fails).
func TestChooseDNS(t *testing.T) {
	has := func(names ...string) func(string) (string, error) {
		return func(n string) (string, error) {
			if slices.Contains(names, n) {
				return "/usr/bin/" + n, nil
			}
			return "", exec.ErrNotFound
		}
	}
	for _, tc := range []struct {
		name               string
		look               func(string) (string, error)
		resolved, otherNet bool
		want               string
	}{
		{"resolvconf", has("resolvconf", "resolvectl"), true, false, "resolvconf"},
		{"resolvconf in a namespace", has("resolvconf"), false, true, "resolvconf"},
		{"systemd-resolved", has("resolvectl"), true, false, "resolvectl"},
		{"resolvectl, resolved not running", has("resolvectl"), false, false, ""},
		{"systemd-resolved, another namespace", has("resolvectl"), true, true, ""},
		{"nothing", has(), true, false, ""},
	} {
		if got := chooseDNS(tc.look, tc.resolved, tc.otherNet); got.kind != tc.want {
			t.Errorf("%s: chose %q, want %q", tc.name, got.kind, tc.want)
		}
	}
	got := resolvectlArgs("wg0", []string{"10.0.0.53", "corp.example", "fd00::53"})
	want := [][]string{{"dns", "wg0", "10.0.0.53", "fd00::53"}, {"domain", "wg0", "corp.example"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("resolvectl commands = %q, want %q", got, want)
	}
}

// TestDNSWithoutResolverFails: with DNS in the file and neither resolvconf
// nor systemd-resolved, up fails as wg-quick's does, naming what is
// missing and the fix, and rolls back: the namespace as before, no record.
func TestDNSWithoutResolverFails(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "wgqpdns")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgqpd")
	file := tunnelFile(t, t.TempDir(), name, "DNS = 10.0.0.53\n")
	up := exec.Command(bin, "up", file, "--netns", ns.Name, "--backend", "userspace")
	up.Env = append(os.Environ(), "PATH="+t.TempDir()) // no resolvconf, no resolvectl
	code, out := exitCode(t, up)
	if code != exitError || !strings.Contains(out, "neither resolvconf nor systemd-resolved") || !strings.Contains(out, "install resolvconf") {
		t.Errorf("up without a resolver: exit %d, want %d naming the missing resolver and the fix:\n%s", code, exitError, out)
	}
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("after the failed up (%v):\n%s", err, diff)
	}
	if r := records(name); len(r) > 0 {
		t.Errorf("after the failed up, records remain: %v", r)
	}
}

// TestSaveStripAndKeyFile: a tunnel whose key is in a PrivateKeyFile and
// whose file says SaveConfig = true: strip prints the plain wg
// configuration with that key; save writes a peer added at run time
// into the file; down saves again first (a peer removed meanwhile is
// gone from the file), as wg-quick's does, and the file keeps naming the
// key file, never the key.
func TestSaveStripAndKeyFile(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "wgqpsave")
	dir := t.TempDir()
	key := genKey(t)
	keyPath := filepath.Join(dir, "tunnel.key")
	if err := os.WriteFile(keyPath, []byte(key.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgqps")
	file := filepath.Join(dir, name+".conf")
	conf := "[Interface]\nPostUp = wg set %i private-key " + keyPath + "\nAddress = 10.0.0.1/32\nTable = 123\nSaveConfig = true\n\n[Peer]\nPublicKey = " +
		genKey(t).PublicKey().String() + "\nEndpoint = 203.0.113.2:51822\nAllowedIPs = 10.0.0.2/32\nTransparent = 203.0.113.2/32\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := func(want int, args ...string) string {
		t.Helper()
		code, out := exitCode(t, exec.Command(bin, append(args, file, "--netns", ns.Name)...))
		if code != want {
			t.Fatalf("wg-transparent %s: exit %d, want %d\n%s", args[0], code, want, out)
		}
		return out
	}
	if out := cmd(0, "strip"); !strings.Contains(out, "PrivateKey = "+key.String()+"\n") || strings.Contains(out, "Table") || strings.Contains(out, "SaveConfig") {
		t.Errorf("strip:\n%s", out)
	}
	startForeground(t, "is up", bin, "up", file, "--netns", ns.Name, "--backend", "userspace")

	wg, err := wgctrl.New() // embedded devices' sockets are the same in every namespace
	if err != nil {
		t.Fatal(err)
	}
	defer wg.Close()
	added := genKey(t).PublicKey()
	_, n, _ := net.ParseCIDR("10.0.0.9/32")
	if err := wg.ConfigureDevice(name, wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: added, AllowedIPs: []net.IPNet{*n}}}}); err != nil {
		t.Fatal(err)
	}
	cmd(0, "save")
	saved, _ := os.ReadFile(file)
	if !strings.Contains(string(saved), "PublicKey = "+added.String()+"\nAllowedIPs = 10.0.0.9/32\n") || !strings.Contains(string(saved), "PrivateKeyFile = "+keyPath+"\n") ||
		strings.Contains(string(saved), key.String()) || !strings.Contains(string(saved), "SaveConfig = true\n") ||
		strings.Contains(string(saved), "MTU") { // the file had none: the MTU up chose is not written back
		t.Errorf("after save the file is:\n%s", saved)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("saved file mode %v (%v), want 0600", info.Mode(), err)
	}
	if err := wg.ConfigureDevice(name, wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: added, Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	cmd(0, "down")
	if saved, _ := os.ReadFile(file); strings.Contains(string(saved), added.String()) || !strings.Contains(string(saved), "Transparent = 203.0.113.2/32\n") {
		t.Errorf("after down with SaveConfig the file is:\n%s", saved)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := wg.Device(name); errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwoFilesAtDefaults: two wg-quick files without Table (so Table =
// auto) come up side by side in one namespace: each gets its own table and
// priorities, plan shows them, and both come down, the namespace as
// before.
func TestTwoFilesAtDefaults(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "wgqptwo")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for i, peer := range []string{"203.0.113.2", "203.0.113.3"} {
		name := uniqueName("wgqp" + string(rune('a'+i)))
		file := filepath.Join(dir, name+".conf")
		conf := "[Interface]\nPrivateKey = " + genKey(t).String() + "\nAddress = 10.0.0.1/32\n\n[Peer]\nPublicKey = " + genKey(t).PublicKey().String() +
			"\nEndpoint = " + peer + ":51822\nAllowedIPs = 10.0.0.2/32\nTransparent = " + peer + "/32\n"
		if i == 1 {
			conf = strings.Replace(conf, "10.0.0.", "10.0.1.", -1)
		}
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
		startForeground(t, "is up", bin, "up", file, "--netns", ns.Name, "--backend", "userspace")
	}
	var layouts []string
	for _, file := range files {
		code, out := exitCode(t, exec.Command(bin, "plan", file, "--netns", ns.Name))
		i := strings.Index(out, "layout: table ")
		if code != 0 || i < 0 {
			t.Fatalf("plan: exit %d, no layout line:\n%s", code, out)
		}
		layouts = append(layouts, strings.SplitN(out[i:], " (", 2)[0])
	}
	if layouts[0] == layouts[1] || strings.SplitN(layouts[0], ",", 2)[0] == strings.SplitN(layouts[1], ",", 2)[0] {
		t.Errorf("the two tunnels share a table: %q", layouts)
	}
	for _, file := range files {
		if code, out := exitCode(t, exec.Command(bin, "down", file, "--netns", ns.Name)); code != 0 {
			t.Errorf("down: exit %d\n%s", code, out)
		}
	}
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("after both downs (%v):\n%s", err, diff)
	}
}
