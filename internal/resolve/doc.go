// Package resolve turns the host names of a tunnel's transparent
// destinations into addresses, and keeps them current: it checks names
// ([ValidName]), finds the name server a network namespace uses
// ([ServerFor]), asks it for A and AAAA records from inside that namespace
// ([Resolver.Lookup], with golang.org/x/net/dns/dnsmessage and no other
// DNS library), and schedules the next lookups, with TTLs, grace periods
// and retries, in a [Tracker] that does no I/O and reads no clock.
//
// # Wiring it into the tunnel
//
// The root package is meant to use it like this:
//
//   - Config: Peer.TransparentNames []string, host names routed exactly as
//     Transparent prefixes are (a /32 or /128 per address, with their rules
//     or table routes, AllowedIPs and SNAT set elements). Validate calls
//     [ValidName] on each (a field error naming Peer[i].TransparentNames[j]
//     and wrapping ErrInvalidConfig), and refuses duplicates by
//     [Canonical] form.
//   - Option WithResolver(netip.AddrPort) sets [Resolver.Server]; without
//     it, [ServerFor] of the target namespace's path. [Resolver.Dial] makes
//     its sockets inside the target namespace (nsdo.Do with the
//     namespace's handle around a net.Dialer's DialContext), so queries
//     leave from where the tunnel's traffic does.
//   - Up resolves every name before its first write; a name that fails
//     (any error) fails Up with an error naming it, and nothing is changed.
//     An answer address inside the tunnel's AllowedIPs or its endpoint is
//     refused there too (this package does not know the config). The
//     answers feed a Tracker (Update), and the plan's destinations are the
//     Transparent prefixes plus the host prefixes of each name's addresses
//     in [Tracker.Statuses] (its answer's, and those leaving whose grace
//     period has not ended).
//   - Watch keeps the Tracker: it sleeps until [Tracker.Next]'s time,
//     looks up the due names, calls Update or Failed, then Expire, and
//     applies the union of the names' addresses as a small change (routes,
//     rules, AllowedIPs and SNAT elements added and removed), never a
//     rebuild. An ErrUnreachable keeps the last addresses and is logged;
//     the retry backs off (Options.MinRetry to MaxRetry).
//   - Plan shows each name with its addresses (and the TTL of the answer);
//     Check resolves the names again and reports an address that left or
//     joined an answer as drift; Device() and the command's show list
//     [Tracker.Statuses]: names, addresses, leaving addresses with their
//     end of grace, and the time to the next lookup.
//
// Addresses that are never routed (loopback, unspecified, link-local,
// multicast, broadcast, IPv4-mapped) and answers with more than
// [MaxAddrsPerName] addresses are refused by Lookup with
// [ErrRefusedAnswer]; private ranges are fine, internal services have them.
package resolve
