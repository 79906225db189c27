package sentinel

import (
	"errors"
	"os"
	"testing"
)

// TestWithHintOnce: an error keeps its first (innermost) hint; the layers
// it passes through add none, and errors.Is still finds what it wraps.
func TestWithHintOnce(t *testing.T) {
	err := WithHint(os.ErrPermission, "run as uid 0")
	err = WithHint(err, "the process lacks CAP_NET_ADMIN")
	if got, want := err.Error(), "permission denied (run as uid 0)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, os.ErrPermission) || !HasHint(err) {
		t.Errorf("%v: lost what it wraps, or its hint", err)
	}
	if WithHint(nil, "x") != nil {
		t.Error("WithHint(nil) is not nil")
	}
	if HasHint(os.ErrPermission) {
		t.Error("a bare error has a hint")
	}
}
