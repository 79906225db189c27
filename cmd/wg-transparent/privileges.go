package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// capNetAdmin is CAP_NET_ADMIN's bit in /proc/self/status's CapEff.
const capNetAdmin = 12

// privileged reports whether the process may change networking: root, or
// CAP_NET_ADMIN in its effective set. Without /proc it trusts the uid.
func privileged() bool {
	if os.Geteuid() == 0 {
		return true
	}
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
		return err == nil && caps&(1<<capNetAdmin) != 0
	}
	return false
}
