package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Capabilities' bits in /proc/self/status's CapEff.
const (
	capNetAdmin = 12 // any change to the network
	capSysAdmin = 21 // entering another network namespace (--netns)
)

// privileged reports whether the process may change networking: root, or
// CAP_NET_ADMIN in its effective set. Without /proc it trusts the uid.
func privileged() bool {
	return os.Geteuid() == 0 || hasCapability(capNetAdmin)
}

// hasCapability reports whether capability bit c is in the process's
// effective set; false when /proc cannot tell.
func hasCapability(c uint) bool {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer fh.Close()
	s := bufio.NewScanner(fh)
	for s.Scan() {
		v, ok := strings.CutPrefix(s.Text(), "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		return err == nil && caps&(1<<c) != 0
	}
	return false
}
