//go:build linux

package soak

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

const (
	// floodTable is the foreign routing table the flood writes: no
	// tunnel's.
	floodTable = 4242
	// floodBatch is the route requests in one sendmsg: the kernel handles
	// them all within the call and queues one notification per route
	// (about 1 KiB of receive buffer each) on every listener at once, more
	// than a default receive buffer (208 KiB) holds.
	floodBatch = 2048
)

// flooder adds and deletes blackhole routes in floodTable of a namespace
// as fast as the kernel takes them, batched, without acknowledgements.
type flooder struct {
	fd      int
	buf     []byte
	changes int // route changes sent
}

func newFlooder(ns *testns.NS) (*flooder, error) {
	f := &flooder{}
	err := ns.Do(func() (err error) {
		f.fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		if err = unix.Bind(f.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(f.fd)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open the flood's netlink socket: %w", err)
	}
	return f, nil
}

func (f *flooder) close() { unix.Close(f.fd) }

// burst adds floodBatch routes and deletes them again, n times: 2 *
// floodBatch * n changes, each announced to every listener.
func (f *flooder) burst(n int) error {
	for range n {
		for _, typ := range []uint16{unix.RTM_NEWROUTE, unix.RTM_DELROUTE} {
			if err := f.send(typ); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *flooder) send(typ uint16) error {
	f.buf = f.buf[:0]
	for i := range floodBatch {
		flags := 0
		if typ == unix.RTM_NEWROUTE {
			flags = unix.NLM_F_CREATE | unix.NLM_F_REPLACE
		}
		req := nl.NewNetlinkRequest(int(typ), flags)
		msg := nl.NewRtMsg()
		msg.Family, msg.Dst_len, msg.Type, msg.Table = unix.AF_INET, 32, unix.RTN_BLACKHOLE, unix.RT_TABLE_UNSPEC
		msg.Protocol = unix.RTPROT_STATIC
		req.AddData(msg)
		dst := [4]byte{10, 200, byte(i >> 8), byte(i)}
		req.AddData(nl.NewRtAttr(unix.RTA_DST, dst[:]))
		var tb [4]byte
		binary.NativeEndian.PutUint32(tb[:], floodTable)
		req.AddData(nl.NewRtAttr(unix.RTA_TABLE, tb[:]))
		f.buf = append(f.buf, req.Serialize()...)
	}
	if err := unix.Sendto(f.fd, f.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("flood: send %d route requests: %w", floodBatch, err)
	}
	f.changes += floodBatch
	return f.drain()
}

// drain reads the errors the kernel sent back (none when every request
// succeeded) and returns the first.
func (f *flooder) drain() error {
	var first error
	b := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(f.fd, b, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return first
		}
		if err != nil {
			return fmt.Errorf("flood: read the kernel's answers: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(b[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 && first == nil {
					first = fmt.Errorf("flood: route request: %w", unix.Errno(-errno))
				}
			}
		}
	}
}
