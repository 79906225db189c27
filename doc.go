// Package transparent sets up a WireGuard "transparent tunnel" on Linux.
//
// With the tunnel up, traffic from this host (Endpoint A) to a peer's
// public address (Endpoint B, say 203.0.113.2) goes through the WireGuard
// tunnel; with it down, the same address is reached over the Internet as
// before. Clients keep using one address and one DNS name either way.
//
// It automates the four changes of the "WireGuard Transparent Tunnel"
// recipe for wg-quick:
//
//  1. the peer's public address is added to its AllowedIPs ([Peer.Transparent]);
//  2. the interface's routes go into a custom routing table ([Config.Table]),
//     never the main table;
//  3. two policy rules: the peer's own encrypted WireGuard packets (UDP to
//     its endpoint port) look up the main table at [Config.Priority], and
//     everything else to the public address looks up the custom table at
//     Priority+1;
//  4. the peer's tunnel address stays reachable by one of three options
//     ([PeerRoutePrefix], [PeerRouteMain], [PeerRouteRule]).
//
// The flow is one straight line: a plain-data [Config] is checked by
// [Config.Validate]; Up turns it into the desired state (link, addresses,
// routes, rules and WireGuard device settings), reads what the kernel has,
// and applies only the difference in a safe order, rolling back on failure.
// A second Up therefore changes nothing, and Down, even from a fresh
// process that has only the Config, removes exactly what Up made: every
// route and rule the package adds carries the routing protocol
// [RouteProtocol], so it can tell its own objects from everybody else's.
//
// The WireGuard device is the kernel's when the kernel has WireGuard and an
// embedded wireguard-go device, running inside the calling process, when it
// does not (see [WithBackend]). The optional SNAT rules ([Config.SNAT]) go
// into nf_tables tables of the tunnel's own, through netlink, or into an
// iptables chain of its own (see [WithFirewall]). Everything can be
// applied to another network namespace with [WithNetNS].
//
// A destination may also be given by name ([Peer.TransparentNames], such
// as app.example.com): Up resolves it, its addresses are routed as
// Transparent prefixes are, and [Tunnel.Watch] follows its answers as
// their TTLs run out (see [WithResolver], [WithNameGrace], [WithNameTTL]
// and [Tunnel.Names]).
package transparent
