package resolve

import "errors"

// Sentinel errors, checkable with errors.Is. The errors that wrap them name
// the host name (and the address or server) concerned.
var (
	// ErrInvalidName means a string is not a host name this package
	// resolves: see [ValidName].
	ErrInvalidName = errors.New("invalid host name")

	// ErrNoAddresses means the server answered, and the answer has no
	// address for the name: the name does not exist (NXDOMAIN) or has no A
	// or AAAA records. The answer is authoritative: a caller that routed the
	// name's addresses lets them go (after the grace period, see
	// [Tracker.Failed]).
	ErrNoAddresses = errors.New("name has no addresses")

	// ErrUnreachable means no usable answer came: the server did not answer
	// in time, the network failed, or the server reported a failure of its
	// own (SERVFAIL, REFUSED and the like). Nothing is known about the
	// name: a caller keeps the addresses it had and retries later.
	ErrUnreachable = errors.New("name server gave no answer")

	// ErrRefusedAnswer means the server answered with something this
	// package does not route: a loopback, unspecified, link-local,
	// multicast, broadcast or IPv4-mapped address, more than
	// [MaxAddrsPerName] addresses, or a CNAME chain that loops or is too
	// long. The error names the name and what was refused.
	ErrRefusedAnswer = errors.New("refused answer")

	// ErrNoServer means no name server was configured for a namespace:
	// its resolv.conf is missing or has no usable nameserver line.
	ErrNoServer = errors.New("no name server")
)
