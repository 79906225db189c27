package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent/wgquick"
)

// resolvconfOrder is where resolvconf (Debian's) lists interface name
// patterns; wg-quick names its entry after the first one ("tun*" gives
// "tun.wg0"), so that resolvconf orders it as a tunnel.
const resolvconfOrder = "/etc/resolvconf/interface-order"

var orderPattern = regexp.MustCompile(`^([A-Za-z0-9-]+)\*$`)

// resolvconfName is wg-quick's name for the interface's resolvconf entry.
func resolvconfName(iface string) string {
	fh, err := os.Open(resolvconfOrder)
	if err != nil {
		return iface
	}
	defer fh.Close()
	s := bufio.NewScanner(fh)
	for s.Scan() {
		if m := orderPattern.FindStringSubmatch(strings.TrimSpace(s.Text())); m != nil {
			return m[1] + "." + iface
		}
	}
	return iface
}

// resolvedSocket exists while systemd-resolved runs: its varlink socket.
// Tests change it.
var resolvedSocket = "/run/systemd/resolve/io.systemd.Resolve"

// dnsWay is how a tunnel's DNS is set: "resolvconf" (at path),
// "resolvectl" (systemd-resolved, at path), or "" for neither.
type dnsWay struct{ kind, path string }

// chooseDNS picks how to set DNS, as wg-quick does: resolvconf when it is
// installed (Debian's, openresolv, or systemd's resolvconf, which hands
// the servers to systemd-resolved); else systemd-resolved's resolvectl
// when systemd-resolved runs and the tunnel's link is in the host's
// namespace (systemd-resolved knows only that namespace's links).
func chooseDNS(lookPath func(string) (string, error), resolvedRuns, otherNetNS bool) dnsWay {
	if path, err := lookPath("resolvconf"); err == nil {
		return dnsWay{"resolvconf", path}
	}
	if resolvedRuns && !otherNetNS {
		if path, err := lookPath("resolvectl"); err == nil {
			return dnsWay{"resolvectl", path}
		}
	}
	return dnsWay{}
}

// dnsWay is the way this command sets DNS.
func (c *command) dnsWay() dnsWay {
	_, err := os.Stat(resolvedSocket)
	return chooseDNS(exec.LookPath, err == nil, c.netns != "")
}

// splitDNS separates the file's DNS into name servers and search domains.
func splitDNS(dns []string) (servers, search []string) {
	for _, d := range dns {
		if _, err := netip.ParseAddr(d); err == nil {
			servers = append(servers, d)
		} else {
			search = append(search, d)
		}
	}
	return servers, search
}

// resolvectlArgs are the resolvectl commands that give the link iface its
// DNS servers and search domains.
func resolvectlArgs(iface string, dns []string) [][]string {
	servers, search := splitDNS(dns)
	out := [][]string{append([]string{"dns", iface}, servers...)}
	if len(search) > 0 {
		out = append(out, append([]string{"domain", iface}, search...))
	}
	return out
}

// setDNS applies the file's DNS as wg-quick does (chooseDNS): with
// resolvconf, `resolvconf -a tun.NAME -m 0 -x` with nameserver and search
// lines on its input, run in the tunnel's network namespace as the hooks
// are (with --netns, the host's DNS is not the tunnel's to change); with
// systemd-resolved, `resolvectl dns NAME ...` and `resolvectl domain NAME
// ...`. With neither it fails, as wg-quick's up does, and up rolls back.
func (c *command) setDNS(f *wgquick.File) error {
	if len(f.DNS) == 0 {
		return nil
	}
	way := c.dnsWay()
	switch way.kind {
	case "":
		where := "this system"
		if c.netns != "" {
			where = "network namespace " + quoteControl(c.netns) + " (systemd-resolved serves only the host's)"
		}
		return fmt.Errorf("set DNS %s: neither resolvconf nor systemd-resolved is available in %s: install resolvconf (openresolv), or remove DNS from the file",
			quoteControl(strings.Join(f.DNS, ", ")), where)
	case "resolvectl":
		for _, args := range resolvectlArgs(f.Config.Name, f.DNS) {
			if err := c.resolvectl(way, args...); err != nil {
				return fmt.Errorf("set DNS: %w", err)
			}
		}
		return nil
	}
	var in strings.Builder
	servers, search := splitDNS(f.DNS)
	for _, d := range servers {
		fmt.Fprintf(&in, "nameserver %s\n", d)
	}
	if len(search) > 0 {
		fmt.Fprintf(&in, "search %s\n", strings.Join(search, " "))
	}
	name := resolvconfName(f.Config.Name)
	fmt.Fprintf(c.stderr, "[#] resolvconf -a %s -m 0 -x\n", name)
	cmd := exec.Command(way.path, "-a", name, "-m", "0", "-x")
	cmd.Stdin = strings.NewReader(in.String())
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := c.inNetNS(cmd.Run); err != nil {
		return fmt.Errorf("set DNS: resolvconf -a %s: %w", name, err)
	}
	return nil
}

// unsetDNS removes what setDNS added: `resolvconf -d tun.NAME -f`, in the
// tunnel's network namespace. systemd-resolved's settings of the link go
// with the link, which down removes.
func (c *command) unsetDNS(f *wgquick.File) error {
	if len(f.DNS) == 0 {
		return nil
	}
	if way := c.dnsWay(); way.kind == "resolvconf" {
		return c.resolvconfDelete(way, f.Config.Name)
	}
	return nil
}

// reloadDNS gives the running tunnel the DNS of the reloaded file nf.
// old is the file in force before, or nil when this process does not
// know it (a reload without a keeper: up set DNS from an older file):
// then whatever DNS the tunnel has is cleared before nf's is set, so that
// DNS removed from the file does not stay.
func (c *command) reloadDNS(old, nf *wgquick.File) error {
	if old != nil && slices.Equal(old.DNS, nf.DNS) {
		return nil
	}
	if old != nil && len(old.DNS) == 0 {
		return c.setDNS(nf)
	}
	var err error
	switch way := c.dnsWay(); way.kind {
	case "resolvconf":
		err = c.resolvconfDelete(way, nf.Config.Name)
	case "resolvectl":
		// The link stays: its servers and search domains are reverted.
		if rerr := c.resolvectl(way, "revert", nf.Config.Name); rerr != nil {
			err = fmt.Errorf("unset DNS: %w", rerr)
		}
	}
	return errors.Join(err, c.setDNS(nf))
}

// resolvectl runs `resolvectl ARGS...`, printing it as wg-quick does.
func (c *command) resolvectl(way dnsWay, args ...string) error {
	line := quoteControl(strings.Join(args, " "))
	fmt.Fprintf(c.stderr, "[#] resolvectl %s\n", line)
	cmd := exec.Command(way.path, args...)
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("resolvectl %s: %w", line, err)
	}
	return nil
}

// resolvconfDelete runs `resolvconf -d tun.NAME -f` (no error when there
// is no such entry) in the tunnel's network namespace.
func (c *command) resolvconfDelete(way dnsWay, iface string) error {
	name := resolvconfName(iface)
	fmt.Fprintf(c.stderr, "[#] resolvconf -d %s -f\n", name)
	cmd := exec.Command(way.path, "-d", name, "-f")
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := c.inNetNS(cmd.Run); err != nil {
		return fmt.Errorf("unset DNS: resolvconf -d %s: %w", name, err)
	}
	return nil
}
