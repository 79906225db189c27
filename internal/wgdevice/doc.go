// Package wgdevice makes and removes the tunnel's WireGuard devices: a
// kernel WireGuard link (Kernel), an embedded wireguard-go device run by
// this process inside the tunnel's namespace with its UAPI socket in
// /var/run/wireguard (Embedded), and an embedded device another process
// runs (Remote). Every link this package makes carries its marks
// (LinkAlias, LinkGroup; IsOurs). It needs Linux.
package wgdevice
