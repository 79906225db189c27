package testns

import (
	"fmt"
	"os"
	"testing"
)

// RequireRoot skips t when the test does not run as root (euid != 0), with a
// clear reason. When the environment variable CI is "true", it fails t
// instead: in CI a skipped integration test is a failure.
func RequireRoot(t testing.TB) {
	t.Helper()
	if euid := os.Geteuid(); euid != 0 {
		msg := fmt.Sprintf("needs root to create network namespaces (euid is %d): run the tests with sudo", euid)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// GuardMain is for TestMain: it dumps the host's network namespace (the one
// the process started in), runs the tests, dumps it again, and if the two
// dumps differ prints the difference to stderr and exits 1; otherwise it
// exits with the tests' code. Usage:
//
//	func TestMain(m *testing.M) { testns.GuardMain(m) }
func GuardMain(m *testing.M) {
	before, err := DumpHost()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testns: dump the host network namespace before the tests: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	after, err := DumpHost()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testns: dump the host network namespace after the tests: %v\n", err)
		os.Exit(1)
	}
	if d := Diff(before, after); d != "" {
		fmt.Fprintf(os.Stderr, "testns: the tests changed the host network namespace:\n%s", d)
		os.Exit(1)
	}
	os.Exit(code)
}
