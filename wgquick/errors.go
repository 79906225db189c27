package wgquick

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by every *ParseError.
var ErrInvalid = errors.New("invalid wg-quick file")

// ParseError is one problem of a file: where it is, what is wrong, and how
// to fix it. It matches ErrInvalid with errors.Is, and unwraps to its cause
// when there is one, such as the *transparent.FieldError of a file that
// parses but is not a valid tunnel.
type ParseError struct {
	File    string // the name given to Parse, such as "wg0.conf"
	Line    int    // 1-based; 0 when no single line is at fault
	Key     string // the key as wg-quick spells it, such as "AllowedIPs", or a section such as "[Peer]"
	Problem string
	Fix     string
	Err     error // the cause, or nil
}

// Error formats the problem as "name:line: key: problem; fix".
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(clean(e.File))
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	fmt.Fprintf(&b, ": %s: %s", clean(e.Key), clean(e.Problem))
	if e.Fix != "" {
		b.WriteString("; " + clean(e.Fix))
	}
	return b.String()
}

// Unwrap returns the cause, if any.
func (e *ParseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid.
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }
