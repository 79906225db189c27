//go:build linux

package netfilter

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/wgtransparent/transparent/internal/inet"
	"golang.org/x/sys/unix"
)

// Stamper is a driver whose writes the kernel does not announce but that
// can tell cheaply, without reading the rules, whether a family's nat
// table may have changed: its Stamp changes whenever a chain or rule is
// added, deleted or flushed there. A rule replaced by one of the same
// size leaves the Stamp as it was, so a reader of Stamps still reads the
// rules now and then.
type Stamper interface {
	Stamp(family int) (string, error)
}

// errNoStamp is Stamp's answer for an iptables whose variant is not
// iptables-legacy: only legacy tables have the kernel's table summary.
var errNoStamp = errors.New("no stamp but for iptables-legacy")

// iptGetInfo is IPT_SO_GET_INFO and IP6T_SO_GET_INFO (linux/netfilter_ipv4/
// ip_tables.h, IPT_BASE_CTL): the getsockopt that returns a legacy table's
// summary, struct ipt_getinfo.
const iptGetInfo = 64

// iptGetInfoSize is sizeof(struct ipt_getinfo), which the kernel requires
// exactly: the table's name (32 bytes), the valid hooks, the 5 hooks'
// entry points and underflows, the number of entries and their size in
// bytes. ip6t_getinfo has the same layout.
const iptGetInfoSize = 32 + 4 + 5*4 + 5*4 + 4 + 4

// Stamp is the kernel's summary of the family's legacy nat table (where
// each hook's rules start, how many entries there are and their size):
// one getsockopt on a raw socket, no process, no rules read. It needs
// CAP_NET_ADMIN, as every write of the tunnel does.
func (fw *IPTables) Stamp(family int) (string, error) {
	if fw.variant != "-legacy" {
		return "", errNoStamp
	}
	af, level := unix.AF_INET, unix.IPPROTO_IP
	if family == unix.AF_INET6 {
		af, level = unix.AF_INET6, unix.IPPROTO_IPV6
	}
	var stamp string
	err := fw.ns.Do(func() error {
		fd, err := unix.Socket(af, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		buf := make([]byte, iptGetInfoSize)
		copy(buf, natTable) // the kernel reads the table's name from the buffer
		n := uint32(len(buf))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), iptGetInfo,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		if errno != 0 {
			return errno
		}
		stamp = string(buf[:n])
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read the summary of the %s legacy nat table: %w", inet.FamilyName(family == unix.AF_INET6), err)
	}
	return stamp, nil
}
