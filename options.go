//go:build linux

package transparent

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wgtransparent/transparent/internal/netfilter"
)

// Option configures New.
type Option func(*options)

type options struct {
	netnsPath string
	backend   Backend
	firewall  Firewall
	logger    *slog.Logger
	names     nameOptions // for TransparentNames
}

// WithNetNS applies the tunnel to the network namespace at path, such as
// "/run/netns/a" or "/proc/1234/ns/net". Without it, the tunnel uses the
// namespace of the thread that calls New (normally the process's).
func WithNetNS(path string) Option { return func(o *options) { o.netnsPath = path } }

// WithBackend chooses the WireGuard implementation; the default is
// BackendAuto.
func WithBackend(b Backend) Option { return func(o *options) { o.backend = b } }

// WithLogger sets where the tunnel logs each change it makes (Info) and the
// embedded device's messages (Debug and Error). The default discards them.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithFirewall chooses what holds the SNAT rules: nf_tables through
// netlink, or an iptables variant; the default is FirewallAuto.
func WithFirewall(f Firewall) Option { return func(o *options) { o.firewall = f } }

// validate checks the options before New opens anything.
func (o options) validate() error {
	if o.backend > BackendUserspace {
		return fmt.Errorf("%w: unknown backend %d; use BackendAuto, BackendKernel or BackendUserspace", ErrInvalidConfig, o.backend)
	}
	if o.firewall > FirewallNftables {
		return fmt.Errorf("%w: unknown firewall %d; use FirewallAuto, FirewallNftables, FirewallIPTablesNFT or FirewallIPTablesLegacy", ErrInvalidConfig, o.firewall)
	}
	return o.names.validate()
}

// Backend selects the WireGuard implementation behind the link.
type Backend uint8

const (
	// BackendAuto (the zero value) uses kernel WireGuard when the kernel
	// has it and the embedded device otherwise. An existing link keeps the
	// backend it has.
	BackendAuto Backend = iota
	// BackendKernel requires kernel WireGuard.
	BackendKernel
	// BackendUserspace runs an embedded wireguard-go device inside this
	// process. The link lives as long as the process (or until Down or
	// Close), and the device's UAPI socket is /var/run/wireguard/NAME.sock,
	// where `wg show` and wgctrl find it. That directory is shared by all
	// network namespaces, so embedded devices need distinct names even in
	// different namespaces.
	BackendUserspace
)

func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendKernel:
		return "kernel"
	case BackendUserspace:
		return "userspace"
	}
	return fmt.Sprintf("Backend(%d)", uint8(b))
}

// Firewall selects what holds the SNAT rules.
type Firewall uint8

const (
	// FirewallAuto (the zero value) uses FirewallNftables when the kernel
	// has nf_tables, and otherwise the iptables variant that already holds
	// rules (as kube-proxy does: iptables-legacy when it holds more rules
	// than iptables-nft, and so on), else the system's `iptables`.
	FirewallAuto Firewall = iota
	// FirewallIPTablesNFT uses the commands iptables-nft and ip6tables-nft.
	FirewallIPTablesNFT
	// FirewallIPTablesLegacy uses the commands iptables-legacy and
	// ip6tables-legacy.
	FirewallIPTablesLegacy
	// FirewallNftables talks nf_tables netlink directly: the tunnel's own
	// tables `ip wgtransparent-<Name>` and `ip6 wgtransparent-<Name>`,
	// written in one atomic transaction and read with one dump, without
	// starting a process (docs/BENCHMARKS.md measures the difference).
	// `nft list ruleset` shows them.
	FirewallNftables
)

func (f Firewall) String() string {
	switch f {
	case FirewallAuto:
		return "auto"
	case FirewallIPTablesNFT:
		return "nft"
	case FirewallIPTablesLegacy:
		return "legacy"
	case FirewallNftables:
		return "nftables"
	}
	return fmt.Sprintf("Firewall(%d)", uint8(f))
}

// want is the firewall's choice for the drivers.
func (f Firewall) want() netfilter.Want {
	switch f {
	case FirewallIPTablesNFT:
		return netfilter.WantIPTablesNFT
	case FirewallIPTablesLegacy:
		return netfilter.WantIPTablesLegacy
	case FirewallNftables:
		return netfilter.WantNftables
	}
	return netfilter.WantAuto
}

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
