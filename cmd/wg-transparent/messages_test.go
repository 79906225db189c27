package main

import (
	"os/exec"
	"strings"
	"testing"

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
