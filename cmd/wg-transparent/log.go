package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/wgtransparent/transparent"
)

// stepHandler prints the library's log the way wg-quick prints its
// commands: each change as "[#] add rule 456 to 203.0.113.2/32 lookup
// 123" on stderr; warnings and errors with the program's name; the
// embedded device's own messages (debug, and errors, which it logs with
// the attribute "name") only with -v.
type stepHandler struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	attrs   []slog.Attr
}

func (h *stepHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.verbose
}

func (h *stepHandler) Handle(_ context.Context, r slog.Record) error {
	if !h.verbose && r.Level >= slog.LevelError && hasAttr(r, "name") {
		return nil // the embedded device's own error messages (such as its complaints while it closes): -v shows them
	}
	var b strings.Builder
	switch {
	case r.Level >= slog.LevelWarn:
		b.WriteString(program + ": ")
	case r.Level < slog.LevelInfo:
		b.WriteString("[debug] ")
	default:
		b.WriteString("[#] ")
	}
	if step, ok := stepLine(r); ok {
		b.WriteString(step) // the change alone, as wg-quick echoes its commands
		return h.write(b.String())
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		switch {
		case a.Key == "name" || a.Key == "tunnel": // the interface, which the message names already
		case a.Value.Kind() == slog.KindTime: // a transition's since and last handshake: readable, without Go's monotonic clock
			t := "never"
			if v := a.Value.Time(); !v.IsZero() {
				t = v.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(&b, " %s=%s", a.Key, t)
		default:
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	return h.write(b.String())
}

func (h *stepHandler) write(line string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := fmt.Fprintln(h.w, quoteControl(line))
	return err
}

// stepLine is the console line of the library's log of a change: its
// "step" attribute ("add rule 456 to 203.0.113.2/32 lookup 123"), after
// "undo " for a rollback's; the other attributes, there for log
// processors, would only repeat it.
func stepLine(r slog.Record) (string, bool) {
	if r.Message != transparent.LogChange && r.Message != transparent.LogUndo {
		return "", false
	}
	var step string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "step" {
			step = a.Value.String()
		}
		return step == ""
	})
	if step == "" {
		return "", false
	}
	if r.Message == transparent.LogUndo {
		step = "undo " + step
	}
	return step, true
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h *stepHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &stepHandler{w: h.w, verbose: h.verbose, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}

func (h *stepHandler) WithGroup(string) slog.Handler { return h }

// quoteControl escapes control characters as strconv.Quote does, so that
// text from a file or a peer cannot rewrite the terminal.
func quoteControl(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}
