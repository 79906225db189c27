//go:build linux

package transparent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// probeAddrs returns the addresses Watch probes for p: per IP family, the
// first single address (/32, /128) of its AllowedIPs outside its
// Transparent prefixes, its tunnel address. None means the peer cannot be
// probed (Validate refuses such a peer with a Fallback).
func probeAddrs(p Peer) []netip.Addr {
	var out []netip.Addr
	for _, a := range p.AllowedIPs {
		if !a.IsSingleIP() || prefixesContain(p.Transparent, a.Addr()) {
			continue
		}
		if !containsFamily(out, a.Addr()) {
			out = append(out, a.Addr())
		}
	}
	return out
}

func containsFamily(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x.Is4() == a.Is4() {
			return true
		}
	}
	return false
}

// prober sends the health probes: one ICMP echo request to each address,
// from raw sockets opened in the tunnel's namespace and bound to its link
// (SO_BINDTODEVICE), so that a probe leaves through the tunnel or not at
// all. It reads no answer: the device's receive counter tells whether
// anything came back.
type prober struct {
	id  uint16
	seq uint16
}

func newProber() *prober { return &prober{id: uint16(os.Getpid())} }

// send sends one echo request to each of addrs through the link called
// dev, in the namespace ns. A send that fails (the link is gone, no route)
// is no error of the health check: that probe is simply lost. The error is
// that of opening the sockets.
func (p *prober) send(ns netNS, dev string, addrs []netip.Addr) error {
	p.seq++
	var fds [2]int // IPv4, IPv6
	defer func() {
		for _, fd := range fds {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	}()
	open := func(v6 bool) (int, error) {
		i := 0
		if v6 {
			i = 1
		}
		if fds[i] > 0 {
			return fds[i], nil
		}
		err := ns.do(func() error {
			fam, proto := unix.AF_INET, unix.IPPROTO_ICMP
			if v6 {
				fam, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
			}
			fd, err := unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
			if err != nil {
				return err
			}
			// Nothing is read from the socket: the smallest buffer keeps
			// the namespace's other ICMP from piling up in it.
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
			if err := unix.BindToDevice(fd, dev); err != nil {
				unix.Close(fd)
				return err
			}
			fds[i] = fd
			return nil
		})
		return fds[i], err
	}
	var errs []error
	for _, a := range addrs {
		fd, err := open(a.Is6())
		if err != nil {
			errs = append(errs, fmt.Errorf("open probe socket on %s: %w", dev, err))
			continue
		}
		var sa unix.Sockaddr
		if a.Is4() {
			sa = &unix.SockaddrInet4{Addr: a.As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: a.As16()}
		}
		_ = unix.Sendto(fd, echoRequest(a.Is6(), p.id, p.seq), unix.MSG_DONTWAIT, sa) // lost probes are misses
	}
	return errors.Join(errs...)
}

// echoRequest is an ICMP (ICMPv6) echo request. The kernel fills in the
// ICMPv6 checksum of a raw socket; the ICMP one is computed here.
func echoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = 8 // echo request
	if v6 {
		b[0] = 128
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "wgtprobe")
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
