package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// commandBinary returns the command for the tests to run: the one named
// by WGTRANSPARENT_TEST_COMMAND, built beforehand (test/vm does, as its
// guest has no Go toolchain), or else this package, built now.
func commandBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("WGTRANSPARENT_TEST_COMMAND"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "wg-transparent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
