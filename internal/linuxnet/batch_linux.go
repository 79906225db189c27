//go:build linux

package linuxnet

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/wgtransparent/transparent/internal/inet"
	"golang.org/x/sys/unix"
)

const (
	// routeBatch is the number of route requests in one sendmsg. Each
	// error (and the batch's one acknowledgement) is a buffer of its own
	// in the socket's receive queue (about 700 bytes, whatever the 36
	// bytes of data), all queued before they are read: 256 of them fit
	// routeRcvBuf with room to spare, even when every request fails, and
	// the requests (about 50 bytes each) are far below the send
	// buffer's limit on one message.
	routeBatch = 256
	// routeRcvBuf is the receive buffer asked for the batch socket
	// (SO_RCVBUFFORCE, else SO_RCVBUF within the host's rmem_max).
	routeRcvBuf = 1 << 20
)

func (k *Kernel) AddRoutes(name string, rs []Route) []error {
	l, err := k.linkNamed(name)
	if err != nil {
		return repeat(err, len(rs))
	}
	return k.writeRoutes(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, l.Attrs().Index, rs, unix.EEXIST)
}

// delRoutes removes rs through the link called name, or, when that link is
// gone, from any link, as DelRoute.
func (k *Kernel) DelRoutes(name string, rs []Route) []error {
	dev := 0
	if l, err := k.nl.LinkByName(name); err == nil {
		dev = l.Attrs().Index
	}
	return k.writeRoutes(unix.RTM_DELROUTE, 0, dev, rs, unix.ESRCH, unix.ENOENT)
}

// writeRoutes sends a request of type typ for every route, batched on a
// netlink socket opened in the namespace, and returns each one's error,
// nil for success or for one of the errnos in done.
func (k *Kernel) writeRoutes(typ, flags, dev int, rs []Route, done ...unix.Errno) []error {
	errs := make([]error, len(rs))
	fd, err := k.routeSocket()
	if err != nil {
		return repeat(err, len(rs))
	}
	defer unix.Close(fd)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, routeRcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, routeRcvBuf) // without CAP_NET_ADMIN: as much as rmem_max allows
	}
	// Acknowledgements of errors without the request in them: smaller.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	for lo := 0; lo < len(rs); {
		var buf []byte
		seqs := map[uint32]int{} // sequence number: index in rs
		hi := min(lo+routeBatch, len(rs))
		var last uint32
		for i := lo; i < hi; i++ {
			// Only the last request asks for an acknowledgement: the
			// kernel answers a failed one anyway, and handles them in
			// order, so the last one's acknowledgement comes after every
			// error of the batch. One read per batch, not per route.
			req := routeRequest(typ, flags, rs[i], dev, i == hi-1)
			seqs[req.Seq], last = i, req.Seq
			buf = append(buf, req.Serialize()...)
		}
		if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			for i := lo; i < hi; i++ {
				errs[i] = err
			}
		} else {
			readAcks(fd, seqs, last, errs, done)
		}
		lo = hi
	}
	return errs
}

// readAcks reads the answers to a batch up to the acknowledgement of its
// last request and records the errors; a failure to read is the error of
// every request not answered yet.
func readAcks(fd int, seqs map[uint32]int, last uint32, errs []error, done []unix.Errno) {
	rb := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, rb, 0)
		var msgs []syscall.NetlinkMessage
		if err == nil {
			msgs, err = syscall.ParseNetlinkMessage(rb[:n])
		}
		if err != nil {
			for _, i := range seqs {
				errs[i] = fmt.Errorf("read acknowledgement: %w", err)
			}
			return
		}
		for _, m := range msgs {
			i, ok := seqs[m.Header.Seq]
			if !ok || m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			delete(seqs, m.Header.Seq)
			if errno := -int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
				errs[i] = ignore(unix.Errno(errno), done...)
			}
			if m.Header.Seq == last {
				return // the requests not answered succeeded
			}
		}
	}
}

// routeRequest is the request netlink.RouteAdd (typ RTM_NEWROUTE) or
// netlink.RouteDel (RTM_DELROUTE) sends for r.netlink(dev).
// With ack, the kernel acknowledges it also when it succeeds.
func routeRequest(typ, flags int, r Route, dev int, ack bool) *nl.NetlinkRequest {
	if ack {
		flags |= unix.NLM_F_ACK
	}
	req := nl.NewNetlinkRequest(typ, flags)
	msg := nl.NewRtMsg()
	if typ == unix.RTM_DELROUTE {
		msg = nl.NewRtDelMsg()
	}
	msg.Family = uint8(inet.Family(r.Dst.Addr()))
	msg.Dst_len = uint8(r.Dst.Bits())
	msg.Scope = unix.RT_SCOPE_LINK
	msg.Type = unix.RTN_UNICAST
	if r.Unreachable {
		msg.Scope, msg.Type = unix.RT_SCOPE_UNIVERSE, unix.RTN_UNREACHABLE
	}
	msg.Protocol = inet.RouteProtocol
	var table *nl.RtAttr
	if r.Table >= 256 {
		msg.Table = unix.RT_TABLE_UNSPEC
		table = nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(r.Table)))
	} else {
		msg.Table = uint8(r.Table)
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_DST, r.Dst.Addr().AsSlice()))
	if table != nil {
		req.AddData(table)
	}
	if nr := r.Netlink(dev); nr.Priority != 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(uint32(nr.Priority))))
	}
	if !r.Unreachable {
		req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(dev))))
	}
	return req
}

// repeat returns n copies of err.
func repeat(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}
