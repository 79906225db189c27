// Package soak puts a running tunnel (Watch) through a compressed long
// life in the article's world (namespaces): drift of every kind, moving
// DNS answers, failovers and failbacks, reloads, and floods of foreign
// route changes that overflow Watch's netlink socket. It samples the
// process's goroutines, open files, RSS and Go heap as it goes, and judges
// the run: no growth after warm-up, every drift repaired, and a
// resynchronization after each overflow. The root package's soak test
// runs it in short form; bench/cmd/soak runs it in long form.
package soak
