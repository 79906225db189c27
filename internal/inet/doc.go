// Package inet is the small vocabulary of addresses shared by the library
// and its drivers: IP families, routing table names, and conversions and
// aggregation of prefixes. Only Family needs Linux; the rest is portable,
// for the wgquick package too.
package inet
