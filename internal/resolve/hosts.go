package resolve

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

const (
	// hostsFile is the system's static table of host names.
	hostsFile = "/etc/hosts"
	// maxHosts bounds how much of a hosts file is read: large ad-blocking
	// lists reach a few MiB.
	maxHosts = 16 << 20
)

// HostsFor returns the addresses the hosts file gives name in the network
// namespace at netnsPath, as `ip netns exec` sets it up (ServerFor's
// rule: /etc/netns/NAME/hosts for /run/netns/NAME if that file exists,
// else /etc/hosts), in the file's order; none when the file has no such
// name or does not exist. Names compare without case; a trailing dot is
// ignored. It lets an Endpoint host name that the operator pinned in the
// hosts file resolve as wg(8) resolves it, without asking a name server.
func HostsFor(netnsPath, name string) ([]netip.Addr, error) {
	return hostsFor(netnsPath, name, etcNetnsDir, hostsFile)
}

// hostsFor is HostsFor with the configuration paths given, for tests.
func hostsFor(netnsPath, name, etcNetns, defaultHosts string) ([]netip.Addr, error) {
	path := defaultHosts
	if ns := netnsName(netnsPath); ns != "" {
		p := filepath.Join(etcNetns, ns, "hosts")
		if _, err := readConfigFile(p, maxHosts); !errors.Is(err, fs.ErrNotExist) {
			path = p
		}
	}
	data, err := readConfigFile(path, maxHosts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseHosts(data, name), nil
}

// parseHosts returns the addresses of the lines of a hosts file that name
// name, each once.
func parseHosts(data []byte, name string) []netip.Addr {
	want := strings.TrimSuffix(name, ".")
	var addrs []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		for _, h := range fields[1:] {
			if strings.EqualFold(strings.TrimSuffix(h, "."), want) {
				if a = a.Unmap(); !slices.Contains(addrs, a) {
					addrs = append(addrs, a)
				}
				break
			}
		}
	}
	return addrs
}
