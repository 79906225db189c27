package sentinel

import "errors"

// WithHint adds to err, in parentheses, what the user can do about it,
// unless err has such a hint already: a failure is often explained where
// it happens (the state directory, a namespace's entry) and again by the
// layers it passes through, and one hint, the innermost and most
// specific, is enough. The result wraps err.
func WithHint(err error, hint string) error {
	if err == nil || HasHint(err) {
		return err
	}
	return &hinted{err, hint}
}

// HasHint reports whether err carries a hint of WithHint.
func HasHint(err error) bool {
	var h *hinted
	return errors.As(err, &h)
}

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() + " (" + h.hint + ")" }
func (h *hinted) Unwrap() error { return h.err }
