package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// runDump adds n routes to table 123 in batches (untimed), then times one
// dump of the table: by the library's call (netlink.RouteListFiltered) or
// asked of the kernel for that table alone and parsed lightly (strict).
func runDump(strict bool) func(w *world, n int) (timing, error) {
	return func(w *world, n int) (timing, error) {
		reqs := routeRequests(w, n)
		for lo := 0; lo < n; lo += window {
			if err := w.sendBatch(reqs[lo:min(lo+window, n)]); err != nil {
				return timing{}, fmt.Errorf("untimed adds: %w", err)
			}
		}
		t0 := time.Now()
		var got int
		var err error
		if strict {
			got, err = w.dumpStrict(table)
		} else {
			var rs []netlink.Route
			rs, err = w.h.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
			got = len(rs)
		}
		d := time.Since(t0)
		if err == nil && got != n {
			err = fmt.Errorf("dump of table %d: %d routes, want %d", table, got, n)
		}
		return timing{total: d, first: d, last: d, ops: 1}, err
	}
}

// dumpedRoute is what the library's observe needs of a route.
type dumpedRoute struct {
	dst   netip.Prefix
	table uint32
	proto uint8
	oif   uint32
}

// dumpStrict dumps the IPv4 routes of table t, filtered by the kernel.
func (w *world) dumpStrict(t int) (int, error) {
	fd := w.raw.Socket.GetFd()
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
		return 0, err
	}
	defer unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 0)
	req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP)
	msg := &nl.RtMsg{}
	msg.Family, msg.Table = unix.AF_INET, uint8(t)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(t))))
	w.raw.Seq++
	req.Seq = w.raw.Seq
	if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	var out []dumpedRoute
	buf := make([]byte, 1<<20)
	for {
		nr, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, err
		}
		b := buf[:nr]
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return 0, fmt.Errorf("bad netlink message length %d", l)
			}
			m := b[unix.SizeofNlMsghdr:l]
			b = b[min(len(b), (l+3)&^3):]
			switch typ {
			case unix.NLMSG_DONE:
				return len(out), nil
			case unix.NLMSG_ERROR:
				return 0, syscall.Errno(-int32(binary.NativeEndian.Uint32(m[0:4])))
			case unix.RTM_NEWROUTE:
			default:
				continue
			}
			r := dumpedRoute{table: uint32(m[4]), proto: m[5]}
			bits := int(m[1])
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
						r.dst = netip.PrefixFrom(ip, bits)
					}
				case unix.RTA_TABLE:
					r.table = binary.NativeEndian.Uint32(v)
				case unix.RTA_OIF:
					r.oif = binary.NativeEndian.Uint32(v)
				}
				a = a[min(len(a), (al+3)&^3):]
			}
			out = append(out, r)
		}
	}
}
