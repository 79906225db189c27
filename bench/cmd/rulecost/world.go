package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// world is one fresh network namespace with a netlink handle and a raw
// netlink socket in it (for the hand-built requests).
type world struct {
	*testns.NS
	h   *netlink.Handle
	raw *nl.SocketHandle
	lo  netlink.Link
}

// newWorld makes a namespace named after the pid, so that rulecost.sh can
// find it after a hard kill.
func newWorld(host netns.NsHandle) (w *world, err error) {
	n := testns.New(tool.Session, fmt.Sprintf("rulecost-%d", os.Getpid()))
	w = &world{NS: n, h: n.Netlink()}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	s, err := nl.GetNetlinkSocketAt(w.Handle, host, unix.NETLINK_ROUTE)
	if err != nil {
		return w, err
	}
	w.raw = &nl.SocketHandle{Socket: s}
	// Acknowledgements of a pipelined batch queue up before they are read.
	if err := s.SetReceiveBufferSize(16<<20, true); err != nil {
		return w, err
	}
	// A fresh namespace has exactly the three default IPv4 rules (local,
	// main, default): anything else is not the namespace just created.
	if c, err := w.countRules(); err != nil || c != 3 {
		return w, fmt.Errorf("namespace %s has %d IPv4 rules (%v), not the 3 of a fresh one: refusing", w.Name, c, err)
	}
	w.lo, err = w.h.LinkByName("lo")
	return w, err
}

func (w *world) close() {
	if w.raw != nil {
		w.raw.Close()
	}
	w.Delete()
}

func (w *world) countRules() (int, error) {
	rules, err := w.h.RuleList(unix.AF_INET)
	return len(rules), err
}

// send sends one request on the raw socket and waits for its
// acknowledgement.
func (w *world) send(req *nl.NetlinkRequest) error {
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: w.raw}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// sendBatch writes the requests in one sendmsg (the kernel processes them
// one after the other inside that call), then reads their
// acknowledgements; it fails on the first error acknowledged.
func (w *world) sendBatch(reqs []*nl.NetlinkRequest) error {
	var buf []byte
	seq := make(map[uint32]bool, len(reqs))
	for _, r := range reqs {
		w.raw.Seq++
		r.Seq = w.raw.Seq
		seq[r.Seq] = true
		buf = append(buf, r.Serialize()...)
	}
	if err := unix.Sendto(w.raw.Socket.GetFd(), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	for len(seq) > 0 {
		msgs, from, err := w.raw.Socket.Receive()
		if err != nil {
			return fmt.Errorf("receive (%d acknowledgements missing): %w", len(seq), err)
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || !seq[m.Header.Seq] {
				continue
			}
			delete(seq, m.Header.Seq)
			if errno := int32(binary.NativeEndian.Uint32(m.Data[0:4])); errno != 0 {
				return fmt.Errorf("request %d: %w", m.Header.Seq, syscall.Errno(-errno))
			}
		}
	}
	return nil
}

// duplicateCheck adds the same rule twice with and without NLM_F_EXCL and
// reports what the kernel keeps.
func duplicateCheck(host netns.NsHandle) (string, error) {
	w, err := newWorld(host)
	if err != nil {
		return "", err
	}
	defer w.close()
	result := func(err error) string {
		c, cerr := w.countRules()
		if cerr != nil {
			return cerr.Error()
		}
		if err == nil {
			return fmt.Sprintf("ok (%d rules)", c-3)
		}
		return fmt.Sprintf("%v (%d rules)", err, c-3)
	}
	a := scattered(0)
	var b strings.Builder
	fmt.Fprintf(&b, "Duplicate adds of `to %s/32 table %d priority %d` in a fresh namespace:\n\n", a, table, priority)
	fmt.Fprintf(&b, "- netlink.RuleAdd (NLM_F_EXCL): %s", result(w.h.RuleAdd(libRule(a))))
	fmt.Fprintf(&b, ", again: %s\n", result(w.h.RuleAdd(libRule(a))))
	fmt.Fprintf(&b, "- then the same request without NLM_F_EXCL: %s", result(w.send(ruleRequest(a, priority, flagsNoExcl))))
	fmt.Fprintf(&b, ", again: %s (identical copies)\n", result(w.send(ruleRequest(a, priority, flagsNoExcl))))
	fmt.Fprintf(&b, "- one netlink.RuleDel: %s\n", result(w.h.RuleDel(libRule(a))))
	return b.String(), nil
}
