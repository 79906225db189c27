package main

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// TestNetNSWithoutSysAdmin: root with CAP_NET_ADMIN alone (as in a
// container given only that capability) asks for another namespace with
// --netns: up exits 2 naming CAP_SYS_ADMIN, which entering it needs, and
// the namespace's path; nothing changes there.
func TestNetNSWithoutSysAdmin(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	here, target := testns.New(t, "msgs-here"), testns.New(t, "msgs-target")
	file := tunnelFile(t, t.TempDir(), uniqueName("wgms"), "")
	before, err := testns.Dump(target)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "up", file, "--netns", target.Name)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	testns.StartRestricted(t, here, unix.CAP_NET_ADMIN, cmd)
	cmd.Wait()
	if code, msg := cmd.ProcessState.ExitCode(), out.String(); code != exitError || !strings.Contains(msg, "CAP_SYS_ADMIN") || !strings.Contains(msg, target.Path) {
		t.Errorf("up --netns %s with CAP_NET_ADMIN alone: exit %d\n%s\nwant exit 2 naming CAP_SYS_ADMIN and %s", target.Name, code, msg, target.Path)
	}
	if diff, err := testns.DiffSettled(target, before); err != nil || diff != "" {
		t.Errorf("the namespace changed (%v):\n%s", err, diff)
	}
}

// TestPastedPrivateKeyHidden: a secret pasted as a [Peer] PublicKey is
// never printed. The interface's own private key there is refused (plan
// and up exit 2 naming the key's line, the key itself not shown, nothing
// changed); a preshared key there (a [Peer] whose PublicKey is another
// peer's PresharedKey) is accepted, and plan, check, up's log, show (text
// and JSON) and down print "(hidden)" in its place.
func TestPastedPrivateKeyHidden(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "msgs-key")
	key := genKey(t)
	dir := t.TempDir()
	name := uniqueName("wgms")
	file := filepath.Join(dir, name+".conf")
	psk := genKey(t)
	iface := "[Interface]\nPrivateKey = " + key.String() + "\nAddress = 10.0.0.1/32\nTable = 123\n\n"
	pasted := "[Peer]\nPublicKey = " + key.String() + "\nEndpoint = 203.0.113.2:51822\nAllowedIPs = 10.0.0.2/32\n"
	if err := os.WriteFile(file, []byte(iface+pasted), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, v := range []string{"plan", "up"} {
		c := exec.Command(bin, v, file, "--netns", ns.Name)
		code, out := exitCode(t, c)
		all.WriteString(out)
		if code != exitError || !strings.Contains(out, "PublicKey") || !strings.Contains(out, "private key") {
			t.Errorf("%s with the private key pasted as PublicKey: exit %d, want 2 naming PublicKey and the private key\n%s", v, code, out)
		}
	}
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("a refused file changed the namespace (%v):\n%s", err, diff)
	}
	conf := iface + "[Peer]\nPublicKey = " + genKey(t).PublicKey().String() + "\nPresharedKey = " + psk.String() + "\nEndpoint = 203.0.113.2:51822\nAllowedIPs = 10.0.0.2/32\n\n" +
		"[Peer]\nPublicKey = " + psk.String() + "\nEndpoint = 203.0.113.3:51822\nAllowedIPs = 10.0.0.3/32\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	verb := func(want int, args ...string) {
		t.Helper()
		c := exec.Command(bin, append(args, file, "--netns", ns.Name)...)
		code, out := exitCode(t, c)
		all.WriteString(out)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s", args, code, want, out)
		}
	}
	verb(exitOK, "plan")
	verb(exitDrift, "check")
	log, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	up := exec.Command(bin, "up", file, "--netns", ns.Name)
	up.Stdout, up.Stderr = log, log
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Process.Kill(); up.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if data, _ := os.ReadFile(log.Name()); strings.Contains(string(data), " is up") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("up did not come up:\n%s", data)
		}
	}
	verb(exitOK, "show")
	verb(exitOK, "show", "--json")
	verb(exitOK, "down")
	up.Wait()
	data, _ := os.ReadFile(log.Name())
	all.Write(data)
	for _, secret := range []string{key.String(), psk.String()} {
		if strings.Contains(all.String(), strings.TrimRight(secret, "=")) {
			t.Errorf("a secret key is printed:\n%s", all.String())
		}
	}
	if strings.Count(all.String(), "(hidden)") < 3 {
		t.Errorf("want the pasted key printed as (hidden) by plan, check and show:\n%s", all.String())
	}
}

// TestNotesWhereTheyApply: the parser's notes (here: no route for the
// peers' tunnel addresses, so up adds a rule) are printed by plan, which
// says what up would do, and not by show or down.
func TestNotesWhereTheyApply(t *testing.T) {
	testns.RequireRoot(t)
	ns := testns.New(t, "msgs-notes")
	file := tunnelFile(t, t.TempDir(), uniqueName("wgms"), "")
	for verb, want := range map[string]bool{"plan": true, "show": false, "down": false} {
		var out strings.Builder
		if code := run([]string{verb, file, "--netns", ns.Name}, &out, &out); code != exitOK {
			t.Fatalf("%s: exit %d\n%s", verb, code, out.String())
		}
		if got := strings.Contains(out.String(), "[note] no route for the peers' tunnel addresses"); got != want {
			t.Errorf("%s prints the note: %v, want %v\n%s", verb, got, want, out.String())
		}
	}
}

// TestMissingFileNamedOnce: plan NAME without CONFIG_DIR/NAME.conf names
// the path once (show NAME needs no file: TestShowWithoutFile).
func TestMissingFileNamedOnce(t *testing.T) {
	defer func(old string) { configDir = old }(configDir)
	configDir = t.TempDir()
	var out strings.Builder
	code := run([]string{"plan", "wgmsnone"}, &out, &out)
	path := filepath.Join(configDir, "wgmsnone.conf")
	if want := program + ": open " + path + ": no such file or directory\n"; code != exitError || out.String() != want {
		t.Errorf("plan wgmsnone: exit %d, %q\nwant exit 2, %q", code, out.String(), want)
	}
}

// TestCommandWords: the library's Go names for the backends, which its
// errors give programs, reach the command's user as the flag to type.
func TestCommandWords(t *testing.T) {
	for lib, want := range map[string]string{
		"create link wg0: no kernel WireGuard (load the wireguard module, or use BackendUserspace)": "or use --backend userspace)",
		"link wg0 is a kernel WireGuard device but BackendUserspace was requested: a conflict":      "but --backend userspace was given",
		"link wg0 is an embedded WireGuard device but BackendKernel was requested: a conflict":      "but --backend kernel was given",
	} {
		if got := commandText(errors.New(lib)); !strings.Contains(got, want) || strings.Contains(got, "Backend") {
			t.Errorf("commandText(%q) = %q, want %q in it", lib, got, want)
		}
	}
}

// TestStepLines: the library's structured log of a change prints on the
// console as the change alone, like wg-quick's "[#] command" lines, and
// a rollback's as "undo" and the change; other messages keep their
// attributes.
func TestStepLines(t *testing.T) {
	var out strings.Builder
	log := slog.New(&stepHandler{w: &out}).With("tunnel", "wg0")
	attrs := []any{"op", "add", "step", "add rule 456 to 203.0.113.2/32 lookup 123", "rule", "rule 456 to 203.0.113.2/32 lookup 123", "priority", 456, "table", "123"}
	log.Info(transparent.LogChange, attrs...)
	log.Info(transparent.LogUndo, attrs...)
	log.Info("waiting for lock", "path", "/run/x")
	want := "[#] add rule 456 to 203.0.113.2/32 lookup 123\n[#] undo add rule 456 to 203.0.113.2/32 lookup 123\n[#] waiting for lock path=/run/x\n"
	if out.String() != want {
		t.Errorf("console:\n%s\nwant:\n%s", out.String(), want)
	}
}
