//go:build linux

package transparent

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// routeBatcher is a kernel that writes many routes at once: the live
// kernel sends routeBatch route requests in one sendmsg and
// reads the answers after, where netlink.RouteAdd waits for
// each (and the step looks the link up for each). At 100000 routes that
// is 0.6 seconds against 4.4 (docs/BENCHMARKS.md, "Route writes"). The result has one error per
// route, nil for a route written or already as asked (EEXIST on add,
// ESRCH on delete, as addRoute and delRoute): the kernel handles every
// request of a batch, also after one fails. Kernels without it (the
// tests' fake) write route by route.
type routeBatcher interface {
	addRoutes(name string, rs []route) []error
	delRoutes(name string, rs []route) []error
}

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
	// minRouteBatch is the shortest run of route steps worth a socket of
	// its own.
	minRouteBatch = 8
)

// routeRun returns the number of steps at the head of steps that t can
// write as one batch: consecutive route additions, or route deletions,
// through one link, on a kernel that batches; 0 when it is not worth it,
// or when a test hook asks for step by step (stepDelay) or for a failure
// inside the run (failWrite: the run stops before it).
func (t *Tunnel) routeRun(steps []step) (routeBatcher, int) {
	b, ok := t.k.(routeBatcher)
	if !ok || t.stepDelay != 0 {
		return nil, 0
	}
	key := func(s step) (name string, add, ok bool) {
		switch s := s.(type) {
		case *addRoute:
			return s.name, true, true
		case *delRoute:
			return s.name, false, true
		}
		return "", false, false
	}
	name, add, ok := key(steps[0])
	if !ok {
		return nil, 0
	}
	n := 1
	for n < len(steps) {
		nm, a, ok := key(steps[n])
		if !ok || nm != name || a != add {
			break
		}
		n++
	}
	if t.failWrite > t.writes {
		n = min(n, t.failWrite-t.writes-1)
	}
	if n < minRouteBatch {
		return nil, 0
	}
	return b, n
}

// applyRoutes writes a run of route steps (routeRun) through b, logging
// and counting each as apply does. It returns the steps done and an error
// per step that failed, each naming its route. After a failure the later
// routes of the run have been written too (the kernel handles every
// request of a batch): they are among the steps done, for a rollback to
// undo.
func (t *Tunnel) applyRoutes(verb string, b routeBatcher, run []step) (done []step, errs []error) {
	rs := make([]route, len(run))
	var name string
	var results []error
	for i, s := range run {
		t.logStep(LogChange, s)
		t.writes++
		switch s := s.(type) {
		case *addRoute:
			name, rs[i] = s.name, s.route
		case *delRoute:
			name, rs[i] = s.name, s.route
		}
	}
	if _, add := run[0].(*addRoute); add {
		results = b.addRoutes(name, rs)
	} else {
		results = b.delRoutes(name, rs)
	}
	for i, err := range results {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %s: %w", verb, t.cfg.Name, run[i], err))
			continue
		}
		done = append(done, run[i])
	}
	return done, errs
}

func (k *liveKernel) addRoutes(name string, rs []route) []error {
	l, err := k.linkNamed(name)
	if err != nil {
		return repeat(err, len(rs))
	}
	return k.writeRoutes(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, l.Attrs().Index, rs, unix.EEXIST)
}

// delRoutes removes rs through the link called name, or, when that link is
// gone, from any link, as delRoute.
func (k *liveKernel) delRoutes(name string, rs []route) []error {
	dev := 0
	if l, err := k.nl.LinkByName(name); err == nil {
		dev = l.Attrs().Index
	}
	return k.writeRoutes(unix.RTM_DELROUTE, 0, dev, rs, unix.ESRCH, unix.ENOENT)
}

// writeRoutes sends a request of type typ for every route, batched on a
// netlink socket opened in the namespace, and returns each one's error,
// nil for success or for one of the errnos in done.
func (k *liveKernel) writeRoutes(typ, flags, dev int, rs []route, done ...unix.Errno) []error {
	errs := make([]error, len(rs))
	fd, err := k.routeSocket() // routes_dump.go
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
func routeRequest(typ, flags int, r route, dev int, ack bool) *nl.NetlinkRequest {
	if ack {
		flags |= unix.NLM_F_ACK
	}
	req := nl.NewNetlinkRequest(typ, flags)
	msg := nl.NewRtMsg()
	if typ == unix.RTM_DELROUTE {
		msg = nl.NewRtDelMsg()
	}
	msg.Family = uint8(family(r.Dst.Addr()))
	msg.Dst_len = uint8(r.Dst.Bits())
	msg.Scope = unix.RT_SCOPE_LINK
	msg.Type = unix.RTN_UNICAST
	if r.Unreachable {
		msg.Scope, msg.Type = unix.RT_SCOPE_UNIVERSE, unix.RTN_UNREACHABLE
	}
	msg.Protocol = RouteProtocol
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
	if nr := r.netlink(dev); nr.Priority != 0 {
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
