package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
)

// outcome is what became of one request from A to B's public address.
type outcome int

const (
	viaTunnel   outcome = iota // B saw A's tunnel address
	viaInternet                // B saw A's public address
	refused                    // A's kernel refused it (no route to host: the kill switch)
	lost                       // no answer within the timeout
)

func (o outcome) String() string {
	return [...]string{"tunnel", "internet", "refused", "lost"}[o]
}

// request is one request of the client, sent at t.
type request struct {
	t       time.Time
	outcome outcome
}

// client requests http://203.0.113.2:8080/ from A every interval, each
// request on its own connection with the timeout, and keeps every
// outcome.
type client struct {
	ns       *testns.NS
	interval time.Duration
	timeout  time.Duration

	mu   sync.Mutex
	reqs []request
	wg   sync.WaitGroup
}

func (c *client) run(ctx context.Context) {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.wg.Wait()
			return
		case t := <-tick.C:
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				o := c.one(t)
				c.mu.Lock()
				c.reqs = append(c.reqs, request{t, o})
				c.mu.Unlock()
			}()
		}
	}
}

func (c *client) one(sent time.Time) outcome {
	ctx, cancel := context.WithDeadline(context.Background(), sent.Add(c.timeout))
	defer cancel()
	dial := func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		err = c.ns.Do(func() (err error) {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	tr := &http.Transport{DialContext: dial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/", publicB, httpPort), nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
			return refused
		}
		return lost
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return lost
	case string(body) == tunA.String():
		return viaTunnel
	case string(body) == publicA.String():
		return viaInternet
	}
	return lost
}

// since returns the requests sent at or after t0, in order of sending.
func (c *client) since(t0 time.Time) []request {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []request
	for _, r := range c.reqs {
		if !r.t.Before(t0) {
			out = append(out, r)
		}
	}
	sortRequests(out)
	return out
}

func sortRequests(rs []request) {
	slices.SortFunc(rs, func(a, b request) int { return a.t.Compare(b.t) })
}
