// Package linuxnet is the tunnel's Linux kernel adapter: Kernel reads and
// writes one network namespace's links, addresses, routes, policy rules,
// WireGuard devices (through wgctrl, and the wgdevice package) and
// sysctls, and hands out its firewall drivers. Routes are read with a
// filtered dump of one table and written in batches, one sendmsg per
// batch, on a netlink socket of its own; Route, Address and Link are the
// shapes the tunnel reads and writes. It needs Linux.
package linuxnet
