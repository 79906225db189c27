package testns

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Watcher records the rtnetlink change notifications of one namespace:
// links, IPv4 and IPv6 addresses, routes and rules.
type Watcher struct {
	sock *nl.NetlinkSocket
	stop chan struct{}

	mu     sync.Mutex
	events []string
	seen   int // events recorded since the start, Reset or not
}

// Watch subscribes to the rtnetlink change notifications of namespace n and
// records each as a short line, such as "RTM_NEWRULE rule4 456: to
// 203.0.113.2/32 lookup 123 proto 87". It stops at t.Cleanup.
func Watch(t TB, n *NS) *Watcher {
	t.Helper()
	w := &Watcher{stop: make(chan struct{})}
	groups := []uint{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
		unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE}
	err := n.Do(func() (err error) {
		w.sock, err = nl.Subscribe(unix.NETLINK_ROUTE, groups...)
		return err
	})
	if err != nil {
		t.Fatalf("subscribe to rtnetlink changes in %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.read()
	}()
	t.Cleanup(func() {
		close(w.stop)
		w.sock.Close()
		<-done
	})
	return w
}

func (w *Watcher) read() {
	for {
		msgs, _, err := w.sock.Receive()
		if errors.Is(err, unix.ENOBUFS) {
			w.record("ENOBUFS: the kernel dropped events")
			continue
		}
		if err != nil {
			select {
			case <-w.stop:
			default:
				w.record("receive: " + err.Error())
			}
			return
		}
		for _, m := range msgs {
			w.record(event(m))
		}
	}
}

func (w *Watcher) record(e string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, e)
	w.seen++
}

// Events returns the events seen so far.
func (w *Watcher) Events() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// Settle waits until no event arrived for d, then returns Events.
func (w *Watcher) Settle(d time.Duration) []string {
	for {
		w.mu.Lock()
		seen := w.seen
		w.mu.Unlock()
		time.Sleep(d)
		w.mu.Lock()
		quiet := w.seen == seen
		w.mu.Unlock()
		if quiet {
			return w.Events()
		}
	}
}

// Reset forgets the events seen so far.
func (w *Watcher) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = nil
}

var eventKinds = map[uint16]struct {
	name   string
	format func([]byte) (string, error)
}{
	unix.RTM_NEWLINK:  {"RTM_NEWLINK", linkEvent},
	unix.RTM_DELLINK:  {"RTM_DELLINK", linkEvent},
	unix.RTM_NEWADDR:  {"RTM_NEWADDR", addrEvent},
	unix.RTM_DELADDR:  {"RTM_DELADDR", addrEvent},
	unix.RTM_NEWROUTE: {"RTM_NEWROUTE", routeEvent},
	unix.RTM_DELROUTE: {"RTM_DELROUTE", routeEvent},
	unix.RTM_NEWRULE:  {"RTM_NEWRULE", ruleLine},
	unix.RTM_DELRULE:  {"RTM_DELRULE", ruleLine},
}

// event formats a notification as its type and a short description.
func event(m syscall.NetlinkMessage) string {
	kind, ok := eventKinds[m.Header.Type]
	if !ok {
		return fmt.Sprintf("message type %d", m.Header.Type)
	}
	s, err := kind.format(m.Data)
	if err != nil {
		return fmt.Sprintf("%s (%v)", kind.name, err)
	}
	return kind.name + " " + s
}

// attrsAfter parses the attributes that follow a header of n bytes.
func attrsAfter(m []byte, n int) (map[uint16]syscall.NetlinkRouteAttr, error) {
	if len(m) < n {
		return nil, fmt.Errorf("short message: %d bytes", len(m))
	}
	return nl.ParseRouteAttrAsMap(m[n:])
}

// linkEvent is "link NAME index N up|down".
func linkEvent(m []byte) (string, error) {
	attrs, err := attrsAfter(m, unix.SizeofIfInfomsg)
	if err != nil {
		return "", err
	}
	h := nl.DeserializeIfInfomsg(m)
	state := "down"
	if h.Flags&unix.IFF_UP != 0 {
		state = "up"
	}
	return fmt.Sprintf("link %s index %d %s", cString(attrs[unix.IFLA_IFNAME].Value), h.Index, state), nil
}

// addrEvent is "addr PREFIX index N".
func addrEvent(m []byte) (string, error) {
	attrs, err := attrsAfter(m, unix.SizeofIfAddrmsg)
	if err != nil {
		return "", err
	}
	h := nl.DeserializeIfAddrmsg(m)
	a, ok := attrs[unix.IFA_LOCAL]
	if !ok {
		a = attrs[unix.IFA_ADDRESS]
	}
	return fmt.Sprintf("addr %s index %d", prefixString(a.Value, h.Prefixlen), h.Index), nil
}

// routeEvent is "route4|route6 table T TYPE DST [via GW] [oif N] proto P".
func routeEvent(m []byte) (string, error) {
	attrs, err := attrsAfter(m, unix.SizeofRtMsg)
	if err != nil {
		return "", err
	}
	h := nl.DeserializeRtMsg(m)
	table, dst := int(h.Table), "default"
	if a, ok := attrs[unix.RTA_TABLE]; ok {
		table = int(u32(a.Value))
	}
	if a, ok := attrs[unix.RTA_DST]; ok {
		dst = prefixString(a.Value, h.Dst_len)
	}
	s := fmt.Sprintf("route%s table %s %s %s", familyName(int(h.Family)), named(table, tables), named(int(h.Type), routeTypes), dst)
	if a, ok := attrs[unix.RTA_GATEWAY]; ok {
		s += " via " + ipString(a.Value)
	}
	if a, ok := attrs[unix.RTA_OIF]; ok {
		s += fmt.Sprintf(" oif %d", u32(a.Value))
	}
	return s + " proto " + netlink.RouteProtocol(h.Protocol).String(), nil
}
