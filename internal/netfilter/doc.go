// Package netfilter holds the drivers of the tunnel's SNAT rules: one
// chain of the tunnel's own per IP family, and jumps to it from the nat
// hooks, in nf_tables (netlink, one transaction, no process) or iptables
// (iptables-nft or iptables-legacy, through iptables-save and
// iptables-restore). Open picks a driver as the tunnel's Firewall option
// asks; OpenKind reopens the one a record names. Every driver works in
// the tunnel's network namespace and needs Linux.
package netfilter
