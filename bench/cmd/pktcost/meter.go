package main

import (
	"fmt"
	"io"
	"time"

	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// checkEvery is how many packets the sender sends between looks at the
// clock.
const checkEvery = 256

// rates are the medians of one state's samples, in packets per second.
type rates struct{ local, forwarded float64 }

// meter measures the two rates in its world.
type meter struct {
	w       *world
	dur     time.Duration
	samples int
	raw     io.Writer
}

// measure takes the samples of both rates, alternating, and returns their
// medians.
func (m *meter) measure(cond, state string) (rates, error) {
	var local, fwd []float64
	for i := range m.samples {
		for _, k := range []struct {
			name string
			from *testns.NS
			to   *[]float64
		}{{"local", m.w.a, &local}, {"forwarded", m.w.s, &fwd}} {
			pps, err := m.rate(k.from)
			if err != nil {
				return rates{}, fmt.Errorf("%s %s %s: %w", cond, state, k.name, err)
			}
			*k.to = append(*k.to, pps)
			fmt.Fprintf(m.raw, "%s,%s,%s,%d,%.0f\n", cond, state, k.name, i, pps)
		}
	}
	return rates{median(local), median(fwd)}, nil
}

// rate sends unconnected UDP from inside n to the outside host for m.dur
// and returns the packets per second that reached O.
func (m *meter) rate(n *testns.NS) (float64, error) {
	before, err := m.w.received()
	if err != nil {
		return 0, err
	}
	var elapsed time.Duration
	err = n.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Port: udpPort, Addr: outside.As4()}
		payload := make([]byte, 64)
		start := time.Now()
		for {
			for range checkEvery {
				// Unconnected: the kernel looks the route up for every
				// packet. ENOBUFS and the like only mean a full queue.
				unix.Sendto(fd, payload, 0, to)
			}
			if elapsed = time.Since(start); elapsed >= m.dur {
				return nil
			}
		}
	})
	if err != nil {
		return 0, err
	}
	after, err := m.w.received()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / elapsed.Seconds(), nil
}
