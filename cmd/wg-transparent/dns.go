package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
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

// setDNS applies the file's DNS as wg-quick does: `resolvconf -a
// tun.NAME -m 0 -x` with nameserver and search lines on its input, run in
// the tunnel's network namespace as the hooks are (with --netns, the
// host's DNS is not the tunnel's to change). Without resolvconf it
// reports DNS as not applied.
func (c *command) setDNS(f *wgquick.File) error {
	if len(f.DNS) == 0 {
		return nil
	}
	path, err := exec.LookPath("resolvconf")
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: DNS %s not applied: resolvconf is not installed\n", program, quoteControl(strings.Join(f.DNS, ", ")))
		return nil
	}
	var in strings.Builder
	var search []string
	for _, d := range f.DNS {
		if _, err := netip.ParseAddr(d); err == nil {
			fmt.Fprintf(&in, "nameserver %s\n", d)
		} else {
			search = append(search, d)
		}
	}
	if len(search) > 0 {
		fmt.Fprintf(&in, "search %s\n", strings.Join(search, " "))
	}
	name := resolvconfName(f.Config.Name)
	fmt.Fprintf(c.stderr, "[#] resolvconf -a %s -m 0 -x\n", name)
	cmd := exec.Command(path, "-a", name, "-m", "0", "-x")
	cmd.Stdin = strings.NewReader(in.String())
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := c.inNetNS(cmd.Run); err != nil {
		return fmt.Errorf("set DNS: resolvconf -a %s: %w", name, err)
	}
	return nil
}

// unsetDNS removes what setDNS added: `resolvconf -d tun.NAME -f`, in the
// tunnel's network namespace.
func (c *command) unsetDNS(f *wgquick.File) error {
	if len(f.DNS) == 0 {
		return nil
	}
	path, err := exec.LookPath("resolvconf")
	if err != nil {
		return nil
	}
	name := resolvconfName(f.Config.Name)
	fmt.Fprintf(c.stderr, "[#] resolvconf -d %s -f\n", name)
	cmd := exec.Command(path, "-d", name, "-f")
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := c.inNetNS(cmd.Run); err != nil {
		return fmt.Errorf("unset DNS: resolvconf -d %s: %w", name, err)
	}
	return nil
}
