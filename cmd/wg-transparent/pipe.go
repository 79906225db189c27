package main

import (
	"os"
	"os/signal"
	"syscall"
)

// survivePipes keeps a write to a closed stdout or stderr pipe (`up | tee
// log` with tee killed, `run | head`) from ending the process: by default
// Go exits at once on SIGPIPE from fd 1 or 2, before a foreground up or
// run can bring its tunnel down. With SIGPIPE delivered to a channel such
// a write fails with EPIPE instead, and every write of the command's
// output and log is best effort. The signal is caught, not ignored, so
// that hooks and resolvconf start with its default action, as under
// wg-quick.
func survivePipes() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}
