// Package testns builds throwaway network namespaces for the tests of the
// transparent tunnel: the article's Internet (a router joining Endpoint A,
// Endpoint B with its web server, and a plain client C), HTTP requests made
// from inside a namespace, deterministic dumps of a namespace's links,
// addresses, rules and routes to compare before and after an operation, a
// recorder of rtnetlink change notifications, a name server whose answers a
// test sets ([DNS]), and a TestMain guard that fails the run when the host's
// own namespace changed.
//
// Every change is made inside namespaces the package created; the namespace
// the test process started in is only ever read. Everything a test builds is
// torn down by t.Cleanup. All of it needs root: tests call [RequireRoot]
// first.
package testns
