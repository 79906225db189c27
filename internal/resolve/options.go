package resolve

import (
	"fmt"
	"time"
)

// Defaults of [Options].
const (
	// DefaultGrace is how long an address that left a name's answer stays
	// routed: long enough for open connections to a rotated-out load
	// balancer address to finish their requests, short enough that a
	// reused address is not routed for long.
	DefaultGrace = 5 * time.Minute
	// DefaultMinTTL is the floor under a TTL: answers with TTL 0 or 1
	// (some load balancers give them) would otherwise be asked for
	// continuously. 5 s keeps up with any rotation that matters.
	DefaultMinTTL = 5 * time.Second
	// DefaultMaxTTL is the ceiling over a TTL: a name is asked again at
	// least hourly, so a change is seen even behind a day-long TTL.
	DefaultMaxTTL = time.Hour
	// DefaultMinRetry is the first wait after a failed lookup.
	DefaultMinRetry = time.Second
	// DefaultMaxRetry bounds the doubling wait between failed lookups: a
	// server that comes back is noticed within a minute.
	DefaultMaxRetry = time.Minute
)

// Options tune a [Tracker]. A zero field takes its default.
type Options struct {
	// Grace is how long an address that left the answer stays among the
	// name's addresses. Negative: not at all, it goes at once.
	Grace time.Duration
	// MinTTL and MaxTTL bound the wait until a name is asked again.
	MinTTL, MaxTTL time.Duration
	// MinRetry is the wait after the first failed lookup of a name; it
	// doubles with each failure in a row, up to MaxRetry.
	MinRetry, MaxRetry time.Duration
}

// withDefaults fills the zero fields and checks the bounds.
func (o Options) withDefaults() (Options, error) {
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&o.Grace, DefaultGrace},
		{&o.MinTTL, DefaultMinTTL},
		{&o.MaxTTL, DefaultMaxTTL},
		{&o.MinRetry, DefaultMinRetry},
		{&o.MaxRetry, DefaultMaxRetry},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	switch {
	case o.MinTTL < 0 || o.MinRetry < 0:
		return o, fmt.Errorf("resolve options: MinTTL %v and MinRetry %v must be positive (or zero for the defaults)", o.MinTTL, o.MinRetry)
	case o.MinTTL > o.MaxTTL:
		return o, fmt.Errorf("resolve options: MinTTL %v is more than MaxTTL %v: lower MinTTL or raise MaxTTL", o.MinTTL, o.MaxTTL)
	case o.MinRetry > o.MaxRetry:
		return o, fmt.Errorf("resolve options: MinRetry %v is more than MaxRetry %v: lower MinRetry or raise MaxRetry", o.MinRetry, o.MaxRetry)
	}
	return o, nil
}
