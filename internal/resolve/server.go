package resolve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strings"
)

// Where resolv.conf lives, as ip-netns(8) arranges it.
const (
	// netnsDir is where named network namespaces are mounted; a namespace
	// opened by a path in it has the name ip netns gave it.
	netnsDir = "/run/netns"
	// netnsDirOld is the same directory by its older path, still a symlink
	// to /run/netns on most systems.
	netnsDirOld = "/var/run/netns"
	// etcNetnsDir holds per-namespace configuration: ip netns exec binds
	// /etc/netns/NAME/resolv.conf over /etc/resolv.conf.
	etcNetnsDir = "/etc/netns"
	// resolvConf is the system resolver configuration.
	resolvConf = "/etc/resolv.conf"
	// maxResolvConf bounds how much of a resolv.conf is read: real ones are
	// a few hundred bytes, and a larger file is a mistake (or a device such
	// as /dev/zero behind a symlink), not a configuration.
	maxResolvConf = 64 << 10
	// dnsPort is the port of a nameserver line, which has no port.
	dnsPort = 53
)

// ServerFor returns the name server that a program in the network namespace
// at netnsPath would use, as `ip netns exec` sets it up: for a namespace
// opened by the path /run/netns/NAME (or /var/run/netns/NAME), the first
// nameserver of /etc/netns/NAME/resolv.conf if that file exists, else of
// /etc/resolv.conf. An empty netnsPath means the current namespace, and
// any other path (such as /proc/PID/ns/net) has no name: both use
// /etc/resolv.conf. The port is 53; an IPv6 server may have a zone
// ("fe80::1%eth0"). It is an [ErrNoServer] error naming the file when the
// file is missing or has no nameserver line.
func ServerFor(netnsPath string) (netip.AddrPort, error) {
	return serverFor(netnsPath, etcNetnsDir, resolvConf)
}

// serverFor is ServerFor with the configuration paths given, for tests.
func serverFor(netnsPath, etcNetns, defaultConf string) (netip.AddrPort, error) {
	if name := netnsName(netnsPath); name != "" {
		p := filepath.Join(etcNetns, name, "resolv.conf")
		s, err := readServer(p)
		if !errors.Is(err, fs.ErrNotExist) {
			return s, err
		}
	}
	return readServer(defaultConf)
}

// netnsName returns the name ip netns gave the namespace at path, or "" if
// path is not in ip netns's directory.
func netnsName(path string) string {
	if path == "" {
		return ""
	}
	dir, name := filepath.Split(filepath.Clean(path))
	dir = filepath.Clean(dir)
	if dir != netnsDir && dir != netnsDirOld || name == "" || name == "." || name == ".." {
		return ""
	}
	return name
}

// readServer reads the first usable nameserver of the resolv.conf at path.
// Anything but a regular file (a FIFO, a device, a directory) is refused
// without waiting on it: the file is opened with O_NONBLOCK, which makes
// opening a FIFO return at once, and checked with fstat before any read,
// so that a FIFO planted as resolv.conf cannot hang a lookup (and the
// signals that would end it) in open or read.
func readServer(path string) (netip.AddrPort, error) {
	data, err := readConfigFile(path, maxResolvConf)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return netip.AddrPort{}, fmt.Errorf("%w: %w: create it with a nameserver line, or give the server explicitly", ErrNoServer, err)
		}
		if errors.Is(err, errNotRegular) {
			return netip.AddrPort{}, fmt.Errorf("%w: %w: make it a regular file with a nameserver line, or give the server explicitly", ErrNoServer, err)
		}
		return netip.AddrPort{}, err
	}
	return parseServer(path, data)
}

// parseServer returns the first nameserver line's address of a resolv.conf
// (resolv.conf(5)): comments start with '#' or ';', a line "nameserver
// ADDR" names a server. A nameserver line whose address does not parse is
// skipped, as the C library does.
func parseServer(path string, data []byte) (netip.AddrPort, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxResolvConf)
	var bad []string
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			bad = append(bad, f[1])
			continue
		}
		return netip.AddrPortFrom(a, dnsPort), nil
	}
	if err := sc.Err(); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(bad) > 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: %s has no nameserver line with an IP address (not addresses: %q): fix the file, or give the server explicitly", ErrNoServer, path, bad)
	}
	return netip.AddrPort{}, fmt.Errorf("%w: %s has no nameserver line: add one, or give the server explicitly", ErrNoServer, path)
}
