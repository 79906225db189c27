//go:build linux

package transparent

import (
	"fmt"
	"net/netip"
	"time"
)

// nameOptions are the options of TransparentNames' resolution.
type nameOptions struct {
	server         netip.AddrPort // WithResolver; invalid: the namespace's resolv.conf
	grace          time.Duration  // WithNameGrace
	graceSet       bool
	minTTL, maxTTL time.Duration // WithNameTTL; zero: resolve's defaults
}

// WithResolver sets the name server that resolves TransparentNames, such
// as 192.0.2.53:53. Without it, the tunnel's namespace's resolver as `ip
// netns exec` gives it: the first nameserver of
// /etc/netns/NAME/resolv.conf for a namespace at /run/netns/NAME, else of
// /etc/resolv.conf, read again at each round of lookups. Queries are sent
// from the tunnel's namespace either way.
func WithResolver(server netip.AddrPort) Option {
	return func(o *options) { o.names.server = server }
}

// WithNameGrace sets how long an address that left a name's answer stays
// routed, so that connections opened to it survive a rotation. The
// default is 5 minutes; 0 removes such an address at once.
func WithNameGrace(d time.Duration) Option {
	return func(o *options) { o.names.grace, o.names.graceSet = d, true }
}

// WithNameTTL bounds the wait before a name is resolved again: its
// answer's TTL, but at least floor and at most ceiling. The defaults are 5
// seconds and 1 hour: answers with TTL 0 are not asked for continuously,
// and a day-long TTL is still checked hourly.
func WithNameTTL(floor, ceiling time.Duration) Option {
	return func(o *options) { o.names.minTTL, o.names.maxTTL = floor, ceiling }
}

// validate checks the name options.
func (o nameOptions) validate() error {
	if o.server.IsValid() || o.server.Port() != 0 {
		if a := o.server.Addr(); !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || o.server.Port() == 0 {
			return fmt.Errorf("%w: WithResolver %s is not a name server address: use the server's unicast address and port, such as 192.0.2.53:53", ErrInvalidConfig, o.server)
		}
	}
	if o.graceSet && o.grace < 0 {
		return fmt.Errorf("%w: WithNameGrace %v is negative: use 0 (no grace) or more", ErrInvalidConfig, o.grace)
	}
	if o.minTTL != 0 || o.maxTTL != 0 {
		if o.minTTL <= 0 || o.maxTTL < o.minTTL {
			return fmt.Errorf("%w: WithNameTTL(%v, %v): the floor must be positive and at most the ceiling, such as WithNameTTL(5*time.Second, time.Hour)", ErrInvalidConfig, o.minTTL, o.maxTTL)
		}
	}
	return nil
}
