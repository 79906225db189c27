package main

import (
	"fmt"
	"net"
	"os"
)

// notifySystemd sends state (such as "READY=1") to the service manager:
// one datagram to the unix socket named by $NOTIFY_SOCKET, a path or,
// with a leading '@', an abstract name (Go's net package maps '@' to the
// abstract namespace), as sd_notify(3) does. Without $NOTIFY_SOCKET (not
// run by systemd with Type=notify) it does nothing.
func notifySystemd(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd at %s: %w", quoteControl(addr), err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd at %s: %w", quoteControl(addr), err)
	}
	return nil
}
