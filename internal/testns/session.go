package testns

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// TB is the part of testing.TB that the test world needs. *testing.T and
// *testing.B satisfy it, and so does *Session, for programs such as the
// demo that build the world outside a test.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Session is a TB for programs. Cleanup functions run at Close, newest
// first, as in a test; Fatal and Fatalf print the message, run Close and
// exit with status 1. Errorf only prints.
type Session struct {
	mu       sync.Mutex
	cleanups []func()
}

func (s *Session) Helper() {}

// Cleanup registers f to run at Close.
func (s *Session) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *Session) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func (s *Session) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	s.Close()
	os.Exit(1)
}

func (s *Session) Fatalf(format string, args ...any) {
	s.Fatal(fmt.Sprintf(format, args...))
}

// Close runs the registered cleanup functions, newest first. It is safe to
// call more than once.
func (s *Session) Close() {
	for {
		s.mu.Lock()
		if len(s.cleanups) == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		s.mu.Unlock()
		f()
	}
}

// requireRoot applies RequireRoot to tests; a Session checks nothing
// here, and fails later with the kernel's own error.
func requireRoot(t TB) {
	if tb, ok := t.(testing.TB); ok {
		tb.Helper()
		RequireRoot(tb)
	}
}
