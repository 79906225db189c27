package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// uniqueName is an interface name no other test uses: embedded devices'
// UAPI sockets in /var/run/wireguard are shared by all namespaces.
func uniqueName(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// tunnelFile writes NAME.conf, a tunnel to 203.0.113.2 with one peer, plus
// extra [Interface] lines, into dir, and returns its path.
func tunnelFile(t *testing.T, dir, name, extra string) string {
	t.Helper()
	conf := `[Interface]
PrivateKey = ` + genKey(t).String() + `
Address = 10.0.0.1/32
Table = 123
` + extra + `
[Peer]
PublicKey = ` + genKey(t).PublicKey().String() + `
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32
`
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// exitCode runs cmd and returns its exit status and output.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", cmd, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// verbOn returns a runner of bin's verbs on file in the namespace netns:
// it fails the test unless the verb exits with want, and returns its
// standard output (its standard error is shown on failure).
func verbOn(t *testing.T, bin, file, netns string) func(want int, args ...string) string {
	return func(want int, args ...string) string {
		t.Helper()
		c := exec.Command(bin, append(args, file, "--netns", netns)...)
		var stderr strings.Builder
		c.Stderr = &stderr
		out, _ := c.Output()
		if code := c.ProcessState.ExitCode(); code != want {
			t.Fatalf("wg-transparent %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, stderr.String())
		}
		return string(out)
	}
}

// records lists the library's record files of the tunnel name.
func records(name string) []string {
	var out []string
	for _, pattern := range []string{"/run/wgtransparent/*" + name + ".json", "/run/wgtransparent/*/*" + name + "*.json"} {
		m, _ := filepath.Glob(pattern)
		out = append(out, m...)
	}
	return out
}

// TestHelpAndVersion: --help, -h and help print the usage and exit 0;
// --version prints the build's version and exits 0.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"up", "wg0", "--help"}} {
		var out, errs strings.Builder
		if got := run(args, &out, &errs); got != exitOK || !strings.HasPrefix(out.String(), "Usage: wg-transparent [ up | down | run |") {
			t.Errorf("wg-transparent %q: exit %d\n%s%s", args, got, out.String(), errs.String())
		}
	}
	var out strings.Builder
	if got := run([]string{"--version"}, &out, &out); got != exitOK || !strings.HasPrefix(out.String(), "wg-transparent ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version: exit %d: %q", got, out.String())
	}
}

// TestConfigFileLookup: a bare interface name reads configDir/NAME.conf,
// a path or a .conf name is a file; a file others can read, in a
// directory they can enter, gets wg-quick's warning.
func TestConfigFileLookup(t *testing.T) {
	for arg, want := range map[string]string{"wg0": "/etc/wireguard/wg0.conf", "wg0.conf": "wg0.conf", "./wg0": "./wg0", "dir/x.conf": "dir/x.conf", "a-very-long-interface": "a-very-long-interface"} {
		if got := configPath(arg); got != want {
			t.Errorf("configPath(%q) = %q, want %q", arg, got, want)
		}
	}
	dir := t.TempDir()
	defer func(old string) { configDir = old }(configDir)
	configDir = dir
	path := tunnelFile(t, dir, "wg9", "")
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var out, errs strings.Builder
	if got := run([]string{"render", "wg9"}, &out, &errs); got != exitOK || !strings.Contains(out.String(), "[Interface]") || errs.Len() != 0 {
		t.Fatalf("render wg9 from %s: exit %d\n%s%s", dir, got, out.String(), errs.String())
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	errs.Reset()
	if got := run([]string{"render", "wg9"}, &out, &errs); got != exitOK || errs.String() != "Warning: `"+path+"' is world accessible\n" {
		t.Errorf("render of a world-readable file: exit %d, stderr %q", got, errs.String())
	}
}

// TestHostileFiles: what is not a regular file, or is too large, is
// refused with exit 2 at once; keys and control characters from a
// malformed file never reach the output.
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "wgfifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "wgbig.conf")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, wgquick.MaxFileSize+1); err != nil { // sparse
		t.Fatal(err)
	}
	const secret = "QJhbA0fOqk1Zr8S6hYcVBpbZyVgQzBnJdYbmgtR4a3w="
	leak := filepath.Join(dir, "wgleak.conf")
	os.WriteFile(leak, []byte("[Interface]\nPrivateKey "+secret+"\nFo\x1b[2Jo = 1\n"), 0o600)
	for _, tc := range []struct{ file, want string }{
		{fifo, "is a FIFO, not a regular file"},
		{"/dev/zero", "is a character device, not a regular file"},
		{dir, "is a directory, not a regular file"},
		{big, "over the limit of 1048576 (MaxFileSize)"},
		{leak, `Fo\x1b[2Jo: unknown key`},
	} {
		done := make(chan struct{})
		var out strings.Builder
		var got int
		go func() {
			defer close(done)
			got = run([]string{"render", tc.file}, &out, &out)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("render %s hangs", tc.file)
		}
		if got != exitError || !strings.Contains(out.String(), tc.want) {
			t.Errorf("render %s: exit %d\n%s\nwant exit 2 with %q", tc.file, got, out.String(), tc.want)
		}
		if strings.Contains(out.String(), secret[:20]) || strings.Contains(out.String(), "\x1b") {
			t.Errorf("render %s shows a key or a control character:\n%q", tc.file, out.String())
		}
	}
}

// TestNotRoot: as nobody, the verbs that touch the kernel say what is
// needed and exit 2, like wg-quick; render and import work.
func TestNotRoot(t *testing.T) {
	testns.RequireRoot(t)
	dir, err := os.MkdirTemp("", "wg-transparent-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "wg-transparent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	file := tunnelFile(t, dir, "wgnobody", "")
	for _, p := range []string{dir, bin, file} { // explicitly: the umask may be 077 for a moment (wireguard-go creates a UAPI socket under it)
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	for _, verb := range []string{"up", "down", "run", "plan", "check", "show", "render", "import"} {
		cmd := exec.Command(bin, verb, file)
		cmd.SysProcAttr = nobody
		code, out := exitCode(t, cmd)
		switch verb {
		case "render", "import":
			if code != exitOK || !strings.Contains(out, "[Peer]") {
				t.Errorf("%s as nobody: exit %d\n%s", verb, code, out)
			}
		default:
			if code != exitError || !strings.Contains(out, "wg-transparent: must be run as root (or with CAP_NET_ADMIN)") {
				t.Errorf("%s as nobody: exit %d\n%s", verb, code, out)
			}
		}
	}
}

// TestHooksRollBack: hooks run with bash (process substitution works), %i
// is the interface; a failing PreUp or PostUp makes up exit 2 and leaves
// the namespace as it was, with no record; a failing PreDown is reported
// and down goes on: PostDown runs, the namespace is restored, exit 2.
func TestHooksRollBack(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "hooks")
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	before, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, failing := range []string{"PreUp", "PostUp"} {
		name := uniqueName("wgh")
		file := tunnelFile(t, dir, name, "PreUp = cat <(echo bash %i) >> "+trace+"\n"+failing+" = exit 3\n")
		code, out := exitCode(t, exec.Command(bin, "up", file, "--netns", ns.Name, "--backend", "userspace"))
		if code != exitError || !strings.Contains(out, failing+` "exit 3": exit status 3`) {
			t.Errorf("up with a failing %s: exit %d\n%s", failing, code, out)
		}
		if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
			t.Errorf("after up with a failing %s (%v):\n%s", failing, err, diff)
		}
		if r := records(name); len(r) > 0 {
			t.Errorf("after up with a failing %s, records remain: %v", failing, r)
		}
		if got, _ := os.ReadFile(trace); !strings.Contains(string(got), "bash "+name+"\n") {
			t.Errorf("PreUp with bash's <(…) wrote %q", got)
		}
	}

	name := uniqueName("wgh")
	file := tunnelFile(t, dir, name, "PreDown = exit 4\nPostDown = echo postdown %i >> "+trace+"\n")
	up, _ := startForeground(t, "is up", bin, "up", file, "--netns", ns.Name, "--backend", "userspace")
	code, out := exitCode(t, exec.Command(bin, "down", file, "--netns", ns.Name))
	if code != exitError || !strings.Contains(out, `PreDown "exit 4": exit status 4; going on with down`) {
		t.Errorf("down with a failing PreDown: exit %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(trace); !strings.Contains(string(got), "postdown "+name+"\n") {
		t.Errorf("PostDown did not run after the failing PreDown: trace %q", got)
	}
	up.Wait()
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("after down with a failing PreDown (%v):\n%s", err, diff)
	}
}

// TestRun: run brings the tunnel up, tells systemd (READY=1 on a unixgram
// socket given as NOTIFY_SOCKET), repairs a deleted rule by itself,
// applies DNS through resolvconf (a stand-in that records its calls),
// gives the device wg-quick's MTU (the route toward the endpoint's 9000
// minus 80), answers plan, check and show with --json, and on SIGTERM
// brings everything down (DNS too) and exits 0, the namespace as before.
func TestRun(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "run")
	h := ns.Netlink()
	under := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "under0", MTU: 9000}, PeerName: "under1"}
	if err := h.LinkAdd(under); err == nil {
		err = h.AddrAdd(under, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(203, 0, 113, 1), Mask: net.CIDRMask(24, 32)}})
		if err == nil {
			err = h.LinkSetUp(under)
		}
		if err != nil {
			t.Fatal(err)
		}
	} else {
		t.Fatal(err)
	}
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	fake := filepath.Join(dir, "bin")
	dnsLog := filepath.Join(dir, "resolvconf.log")
	os.Mkdir(fake, 0o755)
	script := "#!/bin/sh\necho \"args: $*\" >> " + dnsLog + "\n[ \"$1\" = -a ] && sed 's/^/in: /' >> " + dnsLog + "\nexit 0\n"
	if err := os.WriteFile(filepath.Join(fake, "resolvconf"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	name := uniqueName("wgr")
	file := tunnelFile(t, dir, name, "DNS = 10.0.0.53, corp.example\nPriority = 455\n")
	cmd := verbOn(t, bin, file, ns.Name)
	var plan planJSON
	if err := json.Unmarshal([]byte(cmd(0, "plan", "--json")), &plan); err != nil || plan.Interface != name || plan.Pending == 0 || plan.Pending != len(plan.Changes) {
		t.Errorf("plan --json: %v %+v", err, plan)
	}
	var check checkJSON
	if err := json.Unmarshal([]byte(cmd(1, "check", "--json")), &check); err != nil || check.InSync || len(check.Changes) == 0 {
		t.Errorf("check --json before run: %v %+v", err, check)
	}

	runCmd := exec.Command(bin, "run", file, "--netns", ns.Name)
	runCmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "PATH="+fake+":"+os.Getenv("PATH"))
	var runOut strings.Builder
	runCmd.Stdout, runCmd.Stderr = &runOut, &runOut
	if err := runCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		runCmd.Process.Kill()
		runCmd.Wait()
	}()
	notify.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 256)
	n, err := notify.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "READY=1\n") {
		t.Fatalf("notification: %q, %v\nrun said:\n%s", buf[:n], err, runOut.String())
	}

	if err := json.Unmarshal([]byte(cmd(0, "check", "--json")), &check); err != nil || !check.InSync || len(check.Changes) != 0 {
		t.Errorf("check --json while running: %v %+v", err, check)
	}
	var show showJSON
	if err := json.Unmarshal([]byte(cmd(0, "show", "--json")), &show); err != nil || !show.Up || show.Device == nil ||
		len(show.Device.Peers) != 1 || strings.Join(show.Device.Peers[0].AllowedIPs, ",") != "10.0.0.2/32,203.0.113.2/32" || len(show.Rules) != 3 || len(show.Routes) != 2 {
		t.Errorf("show --json: %v %+v", err, show)
	}
	link, err := h.LinkByName(name)
	if err != nil || link.Attrs().MTU != 9000-80 {
		t.Errorf("device MTU: %v %v, want 8920 (the route toward the endpoint has 9000)", link, err)
	}
	dns, _ := os.ReadFile(dnsLog)
	rcName := resolvconfName(name)
	if want := "args: -a " + rcName + " -m 0 -x\nin: nameserver 10.0.0.53\nin: search corp.example\n"; string(dns) != want {
		t.Errorf("resolvconf calls:\n%s\nwant:\n%s", dns, want)
	}

	// Drift: the transparent rule deleted; run's Watch puts it back.
	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.Protocol = 456, 123, transparent.RouteProtocol
	rule.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2).To4(), Mask: net.CIDRMask(32, 32)}
	if err := h.RuleDel(rule); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		rules, err := h.RuleList(netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rules {
			found = found || r.Priority == 456 && r.Table == 123
		}
		if found {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run did not repair the deleted rule in 10 s\n%s", runOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	// A reload with other DNS replaces the entry.
	data, _ := os.ReadFile(file)
	data = []byte(strings.Replace(string(data), "DNS = 10.0.0.53, corp.example", "DNS = 10.0.0.54", 1))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd(0, "reload")
	dns, _ = os.ReadFile(dnsLog)
	if want := "args: -d " + rcName + " -f\nargs: -a " + rcName + " -m 0 -x\nin: nameserver 10.0.0.54\n"; !strings.HasSuffix(string(dns), want) {
		t.Errorf("resolvconf calls after a reload with other DNS:\n%s\nwant them to end with:\n%s", dns, want)
	}

	if err := runCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := runCmd.Wait(); err != nil {
		t.Errorf("run after SIGTERM: %v\n%s", err, runOut.String())
	}
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("after SIGTERM (%v):\n%s", err, diff)
	}
	if r := records(name); len(r) > 0 {
		t.Errorf("after SIGTERM, records remain: %v", r)
	}
	if dns, _ := os.ReadFile(dnsLog); !strings.HasSuffix(string(dns), "args: -d "+rcName+" -f\n") {
		t.Errorf("resolvconf calls after SIGTERM:\n%s\nwant the entry removed", dns)
	}
}

// TestNotifyAbstract: NOTIFY_SOCKET may name an abstract socket ('@').
func TestNotifyAbstract(t *testing.T) {
	addr := "@" + uniqueName("wgtransparent-test-")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", addr)
	if err := notifySystemd("READY=1"); err != nil {
		t.Fatal(err)
	}
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, err := l.Read(buf); err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("got %q, %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := notifySystemd("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, want nothing done", err)
	}
}

// TestStalePeers: a peer with an Endpoint name is re-resolved when its
// handshake is older than 135 s or never happened; peers with an address,
// or a fresh handshake, are not.
func TestStalePeers(t *testing.T) {
	now := time.Now()
	keys := []wgtypes.Key{genKey(t), genKey(t), genKey(t), genKey(t)}
	f := &wgquick.File{EndpointNames: []string{"a.example", "", "c.example", "d.example"}}
	dev := &wgtypes.Device{}
	for i, k := range keys {
		f.Config.Peers = append(f.Config.Peers, transparent.Peer{PublicKey: k})
		hs := []time.Time{now.Add(-136 * time.Second), now.Add(-time.Hour), now.Add(-10 * time.Second), {}}[i]
		dev.Peers = append(dev.Peers, wgtypes.Peer{PublicKey: k, LastHandshakeTime: hs})
	}
	if got := fmt.Sprint(stalePeers(f, dev, now)); got != "[0 3]" {
		t.Errorf("stale peers %s, want [0 3]", got)
	}
	if got := fmt.Sprint(stalePeers(f, nil, now)); got != "[0 2 3]" {
		t.Errorf("without a device: stale peers %s, want [0 2 3]", got)
	}
}
