package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// eventCounter counts the rtnetlink change notifications of one
// namespace: links, addresses, routes and rules. Every successful netlink
// write of a link, address, route or rule makes at least one
// notification, whichever program made it (the library over netlink,
// wg-quick through `ip`), so the count compares the two implementations'
// kernel writes without instrumenting either. It is not an exact write
// count: adding an address also announces its local routes, and deleting a
// link announces some of the routes that go with it. WireGuard device
// settings (UAPI) and iptables make no rtnetlink notification; processes
// are counted separately (see shim.go).
type eventCounter struct {
	sock *nl.NetlinkSocket
	done chan struct{}

	mu      sync.Mutex
	n       int  // notifications received
	dropped bool // the kernel reported ENOBUFS: n is too low
}

var eventGroups = []uint{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
	unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE}

// countEvents subscribes inside ns. The receive buffer is raised to 64 MiB
// (SO_RCVBUFFORCE, root only) because an Up at N=10000 announces some
// 20000 rules and routes faster than a default-sized buffer drains.
func countEvents(ns *testns.NS) (*eventCounter, error) {
	c := &eventCounter{done: make(chan struct{})}
	err := ns.Do(func() (err error) {
		c.sock, err = nl.Subscribe(unix.NETLINK_ROUTE, eventGroups...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to rtnetlink in %s: %w", ns.Name, err)
	}
	if err := c.sock.SetReceiveBufferSize(64<<20, true); err != nil {
		c.sock.Close()
		return nil, fmt.Errorf("raise the rtnetlink receive buffer in %s: %w", ns.Name, err)
	}
	go c.read()
	return c, nil
}

func (c *eventCounter) read() {
	defer close(c.done)
	for {
		msgs, _, err := c.sock.Receive()
		c.mu.Lock()
		switch {
		case errors.Is(err, unix.ENOBUFS):
			c.dropped = true
		case err != nil:
			c.mu.Unlock()
			return // closed, or broken: settle then reports what was seen
		default:
			c.n += len(msgs)
		}
		c.mu.Unlock()
	}
}

// settle waits until no notification arrived for quiet (the kernel sends
// them as it makes each change, but the reader may lag behind), then
// returns the count since the last settle and whether any were dropped.
func (c *eventCounter) settle(quiet time.Duration) (n int, dropped bool) {
	last := -1
	for {
		c.mu.Lock()
		now := c.n
		c.mu.Unlock()
		if now == last {
			break
		}
		last = now
		time.Sleep(quiet)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, dropped = c.n, c.dropped
	c.n, c.dropped = 0, false
	return n, dropped
}

// close stops the reader. Closing the socket does not wake a blocked
// recvmsg on a netlink socket, so the reader is woken by a shutdown.
func (c *eventCounter) close() {
	unix.Shutdown(c.sock.GetFd(), unix.SHUT_RDWR)
	c.sock.Close()
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
}
