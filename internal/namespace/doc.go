// Package namespace is the network namespace a tunnel works in: netlink
// handles and nf_tables connections bound to it, and Do to run code that
// opens sockets or devices on a thread inside it; ExplainPermission
// says which capability a permission error there lacks. It needs Linux.
package namespace
