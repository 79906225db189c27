//go:build linux

package linuxnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/wgtransparent/transparent/internal/inet"
	"golang.org/x/sys/unix"
)

// A route dump of one table, filtered by the kernel and parsed for what
// the tunnel reads. netlink.RouteListFiltered asks the kernel for every
// table's routes, parses each whole and filters afterwards: on a host with
// 100000 routes in the tunnel's table (RulesTable) and a full table in
// main, that was most of a no-op Up (docs/BENCHMARKS.md). With strict
// checking (NETLINK_GET_STRICT_CHK, Linux 4.20) the kernel sends the
// table asked for only.

// dumpKey names a dump: an IP family and a table.
type dumpKey struct{ family, table int }

// dumpBuffer is the receive buffer of one read of a dump: the kernel
// fills it with as many messages as fit.
const dumpBuffer = 1 << 20

// dumpRoutes returns the routes of family fam in table, with the fields
// observe and the underlay read: Dst, Table, Protocol, Type, Scope,
// LinkIndex, Gw, Src and Priority. It falls back to RouteListFiltered on
// a kernel without strict checking.
func (k *Kernel) dumpRoutes(fam, table int) ([]KernelRoute, error) {
	out := make([]KernelRoute, 0, k.dumpSizes[dumpKey{fam, table}]) // as many as last time
	err := k.eachRoute(fam, table, func() { out = out[:0] }, func(r KernelRoute) { out = append(out, r) })
	return out, err
}

// eachRoute is dumpRoutes handing each route to fn as it is read, so that
// a table of 100000 routes is never held whole: reset is called before
// each attempt, the first included (a dump interrupted by a change
// meanwhile is read again from its start).
func (k *Kernel) eachRoute(fam, table int, reset func(), fn func(KernelRoute)) error {
	var err error
	for range 5 {
		reset()
		err = k.dumpRoutesOnce(fam, table, fn)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if errors.Is(err, unix.ENOPROTOOPT) { // no strict checking: the slow way
		nrs, err := retryDump(func() ([]netlink.Route, error) {
			return k.nl.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		})
		reset()
		for _, r := range nrs {
			fn(KernelRouteOf(r))
		}
		return err
	}
	return err
}

func (k *Kernel) dumpRoutesOnce(fam, table int, fn func(KernelRoute)) error {
	fd, err := k.routeSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP)
	msg := &nl.RtMsg{}
	msg.Family = uint8(fam)
	if table < 256 {
		msg.Table = uint8(table)
	} else {
		msg.Table = unix.RT_TABLE_UNSPEC
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(table))))
	req.Seq = 1
	if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("ask for the routes: %w", err)
	}
	if k.dumpBuf == nil {
		k.dumpBuf = make([]byte, dumpBuffer) // kept: four dumps an Up
	}
	buf := k.dumpBuf
	count := 0
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("read the routes: %w", err)
		}
		b := buf[:n]
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			flags := binary.NativeEndian.Uint16(b[6:8])
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return fmt.Errorf("read the routes: bad message length %d", l)
			}
			m := b[unix.SizeofNlMsghdr:l]
			b = b[min(len(b), (l+3)&^3):]
			switch typ {
			case unix.NLMSG_DONE:
				if flags&unix.NLM_F_DUMP_INTR != 0 {
					return netlink.ErrDumpInterrupted
				}
				if k.dumpSizes == nil {
					k.dumpSizes = map[dumpKey]int{}
				}
				k.dumpSizes[dumpKey{fam, table}] = count
				return nil
			case unix.NLMSG_ERROR:
				if len(m) < 4 {
					return errors.New("read the routes: short error message")
				}
				if e := -int32(binary.NativeEndian.Uint32(m[0:4])); e != 0 {
					return unix.Errno(e)
				}
				return nil
			case unix.RTM_NEWROUTE:
				if r, ok := parseRoute(m); ok && (table == unix.RT_TABLE_UNSPEC || r.Table == table) {
					fn(r)
					count++
				}
			}
		}
	}
}

// routeSocket opens a NETLINK_ROUTE socket in the tunnel's namespace,
// bound, for the route dumps and the batched route writes, which speak
// netlink themselves.
func (k *Kernel) routeSocket() (int, error) {
	var fd int
	err := k.ns.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("open netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind netlink socket: %w", err)
	}
	return fd, nil
}

// parseRoute reads the fields of one RTM_NEWROUTE message that the tunnel
// uses.
func parseRoute(m []byte) (KernelRoute, bool) {
	if len(m) < unix.SizeofRtMsg {
		return KernelRoute{}, false
	}
	fam := int(m[0])
	r := KernelRoute{Table: int(m[4]), Protocol: int(m[5]), Scope: int(m[6]), Type: int(m[7])}
	bits := int(m[1])
	r.Dst = inet.AnyPrefix(fam) // the default route, unless RTA_DST says otherwise
	for a := m[unix.SizeofRtMsg:]; len(a) >= 4; {
		al := int(binary.NativeEndian.Uint16(a[0:2]))
		at := binary.NativeEndian.Uint16(a[2:4])
		if al < 4 || al > len(a) {
			break
		}
		v := a[4:al]
		switch at {
		case unix.RTA_DST:
			if ip, ok := netip.AddrFromSlice(v); ok {
				r.Dst = netip.PrefixFrom(ip, bits)
			}
		case unix.RTA_TABLE:
			if len(v) >= 4 {
				r.Table = int(binary.NativeEndian.Uint32(v))
			}
		case unix.RTA_OIF:
			if len(v) >= 4 {
				r.LinkIndex = int(binary.NativeEndian.Uint32(v))
			}
		case unix.RTA_PRIORITY:
			if len(v) >= 4 {
				r.Priority = int(binary.NativeEndian.Uint32(v))
			}
		case unix.RTA_GATEWAY:
			r.Gw, _ = netip.AddrFromSlice(v)
		case unix.RTA_PREFSRC:
			r.Src, _ = netip.AddrFromSlice(v)
		}
		a = a[min(len(a), (al+3)&^3):]
	}
	return r, fam == unix.AF_INET || fam == unix.AF_INET6
}
