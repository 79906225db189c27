//go:build linux

package transparent

import (
	"fmt"
	"log/slog"
)

// Option configures New.
type Option func(*options)

type options struct {
	netnsPath string
	backend   Backend
	firewall  Firewall
	logger    *slog.Logger
	names     nameOptions // names_options.go
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
