package transparent

import (
	"strconv"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Fallback selects what happens to a peer's Transparent destinations
// (its prefixes and the addresses of its TransparentNames) while the peer
// is unhealthy: it stops answering, or the WireGuard path to it is cut.
// Watch judges the peer's health (HealthCheck).
type Fallback int

const (
	// FallbackNone (the zero value) keeps the destinations in the tunnel
	// whatever the peer's health, as before failover existed: Watch does
	// not probe the peer.
	FallbackNone Fallback = iota

	// FallbackInternet takes the destinations' routes out of Table while
	// the peer is unhealthy, so that they are reached over the main table,
	// as if the tunnel were down; they return once the peer is healthy
	// again. Without a running Watch nothing fails over.
	FallbackInternet

	// FallbackBlock is the kill switch: beside each destination's route
	// through the tunnel, Up adds an unreachable route in Table with a
	// higher metric (BlockMetric). While the peer is unhealthy its routes
	// through the tunnel leave, and whenever the device is gone (its link
	// deleted, the process that runs the embedded device killed) the
	// kernel removes them: either way the unreachable route is left, and
	// the kernel refuses the traffic, with no process running. Down
	// removes the unreachable routes too.
	FallbackBlock
)

// String returns the name used in wg-quick files and messages: "none",
// "internet" or "block".
func (f Fallback) String() string {
	switch f {
	case FallbackNone:
		return "none"
	case FallbackInternet:
		return "internet"
	case FallbackBlock:
		return "block"
	}
	return "Fallback(" + strconv.Itoa(int(f)) + ")"
}

// Health-check defaults, for the zero values of HealthCheck. With them a
// peer whose path is cut fails over within FailAfter intervals of the last
// packet received from it plus the one in flight: 4 x 500 ms, 2 to 2.5 s,
// within the 3 s the failover promises; and one reply lost now and then
// (a probe is one ICMP echo per interval) costs nothing.
const (
	// DefaultHealthInterval is the time between probes.
	DefaultHealthInterval = 500 * time.Millisecond
	// DefaultHealthFailAfter is the number of consecutive intervals with
	// nothing received from the peer after which it fails over.
	DefaultHealthFailAfter = 4
	// DefaultHealthRecoverAfter is the number of consecutive intervals
	// with something received after which it returns: 1.5 s of a path
	// that works again, so that a flapping path does not flap the routes.
	DefaultHealthRecoverAfter = 3
)

// Limits of HealthCheck that Validate enforces.
const (
	// MinHealthInterval is the shortest Interval: below it probes and
	// device reads cost more than they tell, and a scheduler's hiccup is
	// a miss.
	MinHealthInterval = 50 * time.Millisecond
	// MaxHealthInterval is the longest Interval: beyond it failover takes
	// minutes, longer than a peer's handshake retries.
	MaxHealthInterval = time.Minute
	// MaxHealthCount bounds FailAfter and RecoverAfter.
	MaxHealthCount = 1000
)

// HealthCheck tunes how Watch judges the health of the peers with a
// Fallback. It is plain data; its zero value means the defaults.
type HealthCheck struct {
	// Interval is the time between probes; 0 means DefaultHealthInterval.
	Interval time.Duration
	// FailAfter is the number of consecutive intervals without anything
	// received from the peer before it fails over; 0 means
	// DefaultHealthFailAfter.
	FailAfter int
	// RecoverAfter is the number of consecutive intervals with something
	// received before it returns; 0 means DefaultHealthRecoverAfter.
	RecoverAfter int
}

// WithDefaults returns h with its zero values replaced by the defaults.
func (h HealthCheck) WithDefaults() HealthCheck {
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.FailAfter == 0 {
		h.FailAfter = DefaultHealthFailAfter
	}
	if h.RecoverAfter == 0 {
		h.RecoverAfter = DefaultHealthRecoverAfter
	}
	return h
}

// PeerState is where a peer with a Fallback sends its Transparent
// destinations.
type PeerState int

const (
	// PeerThroughTunnel: the peer is healthy (or not judged yet), its
	// destinations go through the tunnel.
	PeerThroughTunnel PeerState = iota
	// PeerFailedOver: the peer is unhealthy and has FallbackInternet, its
	// destinations go over the main table.
	PeerFailedOver
	// PeerBlocked: the peer is unhealthy and has FallbackBlock, its
	// destinations are refused.
	PeerBlocked
)

// String returns "tunnel", "failed-over" or "blocked".
func (s PeerState) String() string {
	switch s {
	case PeerThroughTunnel:
		return "tunnel"
	case PeerFailedOver:
		return "failed-over"
	case PeerBlocked:
		return "blocked"
	}
	return "PeerState(" + strconv.Itoa(int(s)) + ")"
}

// PeerHealth is one peer's health, as Tunnel.Health reports it.
type PeerHealth struct {
	PublicKey wgtypes.Key
	Fallback  Fallback
	State     PeerState
	Since     time.Time // when State began; zero when never recorded
	Healthy   bool      // the last judgement
	// LastHandshake and the byte counters are the device's; zero when the
	// device is gone.
	LastHandshake               time.Time
	ReceiveBytes, TransmitBytes int64
	// Failovers and Failbacks are counted by this Tunnel's Watch.
	Failovers, Failbacks int
}

// Stats are counters of this Tunnel (not of other processes').
type Stats struct {
	// DriftRepairs counts Watch's Ups that wrote something.
	DriftRepairs int
	// NameResolutions counts the lookups of TransparentNames.
	NameResolutions int
}
