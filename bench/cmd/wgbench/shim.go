package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// shimmed are the commands whose invocations are counted: what wg-quick
// runs (ip, wg, and iptables in the rendered hooks) and what the library
// runs for SNAT (iptables-restore, the -save variants it reads, and the
// variant probes). A missing command gets no shim.
var shimmed = func() []string {
	out := []string{"ip", "wg"}
	for _, fam := range []string{"iptables", "ip6tables"} {
		for _, variant := range []string{"", "-nft", "-legacy"} {
			for _, tool := range []string{"", "-save", "-restore"} {
				out = append(out, fam+variant+tool)
			}
		}
	}
	return out
}()

// shim is a directory of counting wrappers: each is a /bin/sh script that
// appends its name to a log file and execs the real command. Putting the
// directory first in PATH counts every process that wg-quick or the library
// starts by name, without changing what they do. A wrapper costs one more
// exec of sh per command, so timed repetitions run without it (see
// counted in main.go).
type shim struct {
	dir, log string
	wgQuick  string // the copy of wg-quick, "" when there is none
}

func newShim(dir string) (*shim, error) {
	s := &shim{dir: filepath.Join(dir, "shim"), log: filepath.Join(dir, "spawns.log")}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the shim directory: %w", err)
	}
	for _, name := range shimmed {
		real, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if real, err = filepath.Abs(real); err != nil {
			return nil, err
		}
		// exec -a keeps argv[0] the command's own name, which the
		// xtables multi-call binaries dispatch on.
		script := fmt.Sprintf("#!/bin/bash\necho %s >> %q\nexec -a %s %q \"$@\"\n", name, s.log, name, real)
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(script), 0o755); err != nil {
			return nil, fmt.Errorf("write the %s shim: %w", name, err)
		}
	}
	// wg-quick puts its own directory first in PATH (it finds wg next to
	// itself), which would bypass the shims for the commands in /usr/bin,
	// such as ip. A copy in the shim directory puts the shims first.
	if real, err := exec.LookPath("wg-quick"); err == nil {
		data, err := os.ReadFile(real)
		if err != nil {
			return nil, fmt.Errorf("read wg-quick: %w", err)
		}
		s.wgQuick = filepath.Join(s.dir, "wg-quick")
		if err := os.WriteFile(s.wgQuick, data, 0o755); err != nil {
			return nil, fmt.Errorf("copy wg-quick: %w", err)
		}
	}
	return s, nil
}

// path is PATH with the shim directory first.
func (s *shim) path() string { return s.dir + ":" + os.Getenv("PATH") }

// take returns the invocations logged since the last take, by command,
// and clears the log.
func (s *shim) take() (total int, byName string, err error) {
	data, err := os.ReadFile(s.log)
	if os.IsNotExist(err) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read the spawn log: %w", err)
	}
	if err := os.Truncate(s.log, 0); err != nil {
		return 0, "", fmt.Errorf("clear the spawn log: %w", err)
	}
	counts := map[string]int{}
	for _, name := range strings.Fields(string(data)) {
		counts[name]++
		total++
	}
	var parts []string
	for name, n := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", name, n))
	}
	sort.Strings(parts)
	return total, strings.Join(parts, " "), nil
}
