// Package cli holds what the benchmark tools share as commands: deleting
// their namespaces on a signal or a fatal error, and reading a list of
// sizes from a flag.
package cli

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/wgtransparent/transparent/internal/testns"
)

// Tool is one benchmark command and the namespaces it has made.
type Tool struct {
	Name    string
	Session *testns.Session
}

// New returns the tool called name with an empty session.
func New(name string) *Tool { return &Tool{Name: name, Session: &testns.Session{}} }

// HandleSignals deletes the tool's namespaces and exits on SIGINT,
// SIGTERM or SIGHUP.
func (t *Tool) HandleSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-c
		t.Session.Close()
		fmt.Fprintf(os.Stderr, "%s: %v: deleted its namespaces, exiting\n", t.Name, s)
		os.Exit(130)
	}()
}

// Fatal deletes the tool's namespaces, prints err and exits 1.
func (t *Tool) Fatal(err error) {
	t.Session.Close()
	fmt.Fprintf(os.Stderr, "%s: %v\n", t.Name, err)
	os.Exit(1)
}

// ParseSizes reads a comma-separated list of sizes from lo to hi given to
// flag, each a number of what.
func ParseSizes(s, flag string, lo, hi int, what string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s: %q is not a number of %s from %d to %d", flag, f, what, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}
