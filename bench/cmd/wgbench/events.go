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

// eventCounter counts the change notifications of one namespace:
// rtnetlink's (links, addresses, routes and rules) and nf_tables' (tables,
// chains and rules, from the library's nf_tables firewall and from
// iptables-nft alike, plus one per transaction). Every successful write of
// those makes at least one notification, whichever program made it (the
// library over netlink, wg-quick through `ip` and `iptables`), so the
// count compares the two implementations' kernel writes without
// instrumenting either. It is not an exact write count: adding an address
// also announces its local routes, and deleting a link announces some of
// the routes that go with it. WireGuard device settings (UAPI) and
// iptables-legacy make no notification; processes are counted separately
// (see shim.go).
type eventCounter struct {
	socks []*nl.NetlinkSocket
	wg    sync.WaitGroup

	mu      sync.Mutex
	n       int  // notifications received
	dropped bool // the kernel reported ENOBUFS: n is too low
}

var eventGroups = []uint{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
	unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE}

// countEvents subscribes inside ns. The receive buffers are raised to 64
// MiB (SO_RCVBUFFORCE, root only) because an Up at N=10000 announces some
// 20000 rules and routes faster than a default-sized buffer drains.
func countEvents(ns *testns.NS) (*eventCounter, error) {
	c := &eventCounter{}
	for _, sub := range []struct {
		protocol int
		groups   []uint
	}{{unix.NETLINK_ROUTE, eventGroups}, {unix.NETLINK_NETFILTER, []uint{unix.NFNLGRP_NFTABLES}}} {
		var sock *nl.NetlinkSocket
		err := ns.Do(func() (err error) {
			sock, err = nl.Subscribe(sub.protocol, sub.groups...)
			return err
		})
		if err == nil {
			c.socks = append(c.socks, sock)
			err = sock.SetReceiveBufferSize(64<<20, true)
		}
		if err != nil {
			c.close()
			return nil, fmt.Errorf("subscribe to netlink protocol %d in %s: %w", sub.protocol, ns.Name, err)
		}
	}
	for _, sock := range c.socks {
		c.wg.Add(1)
		go c.read(sock)
	}
	return c, nil
}

func (c *eventCounter) read(sock *nl.NetlinkSocket) {
	defer c.wg.Done()
	for {
		msgs, _, err := sock.Receive()
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

// close stops the readers. Closing a socket does not wake a blocked
// recvmsg on a netlink socket, so each reader is woken by a shutdown.
func (c *eventCounter) close() {
	for _, sock := range c.socks {
		unix.Shutdown(sock.GetFd(), unix.SHUT_RDWR)
		sock.Close()
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}
