package transparent

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// testKey returns a fixed private key, so that failures are reproducible.
func testKey(b byte) wgtypes.Key {
	var k wgtypes.Key
	for i := range k {
		k[i] = b
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k
}

var pfx = netip.MustParsePrefix

// articleA is the article's Endpoint A with the given peer route option.
func articleA(pr PeerRoute) Config {
	addr := "10.0.0.1/32"
	if pr == PeerRoutePrefix {
		addr = "10.0.0.1/30"
	}
	return Config{
		Name:       "wg0",
		PrivateKey: testKey(1),
		ListenPort: 51821,
		Addresses:  []netip.Prefix{pfx(addr)},
		Table:      123,
		PeerRoute:  pr,
		Peers: []Peer{{
			PublicKey:   testKey(2).PublicKey(),
			Endpoint:    netip.MustParseAddrPort("203.0.113.2:51822"),
			AllowedIPs:  []netip.Prefix{pfx("10.0.0.2/32")},
			Transparent: []netip.Prefix{pfx("203.0.113.2/32")},
		}},
	}
}

func TestValidateAccepts(t *testing.T) {
	dual := articleA(PeerRouteRule)
	dual.Addresses = append(dual.Addresses, pfx("fd00::1/128"))
	dual.Peers[0].AllowedIPs = append(dual.Peers[0].AllowedIPs, pfx("fd00::2/128"))
	dual.Peers[0].Transparent = append(dual.Peers[0].Transparent, pfx("2001:db8:b::2/128"))
	plain := articleA(PeerRoutePrefix)
	plain.Peers[0].Transparent = nil
	plain.Peers[0].Endpoint = netip.AddrPort{}
	for name, c := range map[string]Config{
		"rule":                                  articleA(PeerRouteRule),
		"prefix":                                articleA(PeerRoutePrefix),
		"main":                                  articleA(PeerRouteMain),
		"dual":                                  dual,
		"plain point-to-point without endpoint": plain,
		"full tunnel": func() Config {
			c := articleA(PeerRouteRule)
			c.Addresses = append(c.Addresses, pfx("fd00::1/128"))
			c.Peers[0].AllowedIPs = []netip.Prefix{pfx("0.0.0.0/0"), pfx("::/0")}
			c.Peers[0].Transparent = nil
			return c
		}(),
		"odd name": func() Config { c := articleA(PeerRouteRule); c.Name = "_9.a-Z_b.c-d_e0"; return c }(),
		"defaults": func() Config { c := articleA(PeerRouteRule); c.Table, c.Priority, c.MTU = 0, 0, 0; return c }(),
		"largest numbers": func() Config {
			c := articleA(PeerRouteRule)
			c.Priority, c.Table, c.MTU, c.ListenPort = 32763, largestTable(), 65535, 65535
			c.FwMark = math.MaxInt32
			c.Peers[0].PersistentKeepalive = 65535 * time.Second
			c.Peers[0].Endpoint = netip.MustParseAddrPort("203.0.113.2:65534") // 65535 only with ExceptionFwMark
			return c
		}(),
		"largest port, fwmark": func() Config {
			c := articleA(PeerRouteRule)
			c.Exception = ExceptionFwMark
			c.Peers[0].Endpoint = netip.MustParseAddrPort("203.0.113.2:65535")
			return c
		}(),
		"smallest numbers": func() Config {
			c := articleA(PeerRouteRule)
			c.Priority, c.Table, c.MTU, c.ListenPort = 1, 1, 576, 1
			c.Peers[0].PersistentKeepalive = time.Second
			c.Peers[0].Endpoint = netip.MustParseAddrPort("203.0.113.2:1")
			return c
		}(),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
}

// largestTable is the largest table number an int holds: 4294967295, or
// math.MaxInt32 where int has 32 bits.
func largestTable() int {
	largest := uint64(math.MaxUint32)
	return int(min(largest, math.MaxInt))
}

// rejectCase is a bad config: a change to the article's A, and the field
// and a word that Validate's report must contain.
type rejectCase struct {
	name   string
	change func(*Config)
	field  string // the FieldError's Field
	want   string // a word of the problem or fix
}

// rejectCases are the bad configs, shared with the test that proves they
// change nothing in a namespace.
var rejectCases = []rejectCase{
	{"empty name", func(c *Config) { c.Name = "" }, "Name", "empty"},
	{"long name", func(c *Config) { c.Name = "wireguard-transparent" }, "Name", "15 bytes"},
	{"slash in name", func(c *Config) { c.Name = "wg/0" }, "Name", "'/'"},
	{"space in name", func(c *Config) { c.Name = "wg 0" }, "Name", "white space"},
	{"tab in name", func(c *Config) { c.Name = "wg\t0" }, "Name", "white space"},
	{"NUL in name", func(c *Config) { c.Name = "wg\x000" }, "Name", "byte 0x00"},
	{"quote in name", func(c *Config) { c.Name = `wg"0` }, "Name", `'"'`},
	{"colon in name", func(c *Config) { c.Name = "wg:0" }, "Name", "':'"},
	{"equals in name", func(c *Config) { c.Name = "wg=0" }, "Name", "'='"},
	{"plus in name", func(c *Config) { c.Name = "wg+0" }, "Name", "'+'"},
	{"hash in name", func(c *Config) { c.Name = "wg#0" }, "Name", "'#'"},
	{"non-ASCII name", func(c *Config) { c.Name = "wgé" }, "Name", "byte 0xc3"},
	{"name starting with a dash", func(c *Config) { c.Name = "-wg0" }, "Name", "starts with '-'"},
	{"name starting with a dot", func(c *Config) { c.Name = ".wg0" }, "Name", "starts with '.'"},
	{"dot name", func(c *Config) { c.Name = "." }, "Name", "starts with '.'"},
	{"dot-dot name", func(c *Config) { c.Name = ".." }, "Name", "starts with '.'"},
	{"name all", func(c *Config) { c.Name = "all" }, "Name", "reserved"},
	{"name default", func(c *Config) { c.Name = "default" }, "Name", "reserved"},
	{"16-byte name", func(c *Config) { c.Name = "wg0123456789abcd" }, "Name", "15 bytes"},
	{"no private key", func(c *Config) { c.PrivateKey = wgtypes.Key{} }, "PrivateKey", "wg genkey"},
	{"port too big", func(c *Config) { c.ListenPort = 70000 }, "ListenPort", "1 to 65535"},
	{"negative port", func(c *Config) { c.ListenPort = -1 }, "ListenPort", "out of range"},
	{"mtu too small", func(c *Config) { c.MTU = 100 }, "MTU", "576"},
	{"mtu too small for ipv6", func(c *Config) {
		c.MTU = 1000
		c.Addresses = append(c.Addresses, pfx("fd00::1/128"))
	}, "MTU", "IPv6"},
	{"main table", func(c *Config) { c.Table = 254 }, "Table", "reserved"},
	{"local table", func(c *Config) { c.Table = 255 }, "Table", "reserved"},
	{"default table", func(c *Config) { c.Table = 253 }, "Table", "reserved"},
	{"negative table", func(c *Config) { c.Table = -5 }, "Table", "out of range"},
	{"priority too high", func(c *Config) { c.Priority = 32764 }, "Priority", "1 to 32763"},
	{"priority of main rule", func(c *Config) { c.Priority = 32766 }, "Priority", "32766"},
	{"negative priority", func(c *Config) { c.Priority = -2 }, "Priority", "1 to 32763"},
	{"priority that overflows", func(c *Config) { c.Priority = math.MaxInt - 1 }, "Priority", "1 to 32763"},
	{"largest priority", func(c *Config) { c.Priority = math.MaxInt }, "Priority", "1 to 32763"},
	{"smallest priority", func(c *Config) { c.Priority = math.MinInt }, "Priority", "1 to 32763"},
	{"table beyond 32 bits", func(c *Config) { c.Table = math.MaxInt }, "Table", "1 to 4294967295"},
	{"smallest table", func(c *Config) { c.Table = math.MinInt }, "Table", "1 to 4294967295"},
	{"largest port", func(c *Config) { c.ListenPort = math.MaxInt }, "ListenPort", "1 to 65535"},
	{"smallest port", func(c *Config) { c.ListenPort = math.MinInt }, "ListenPort", "1 to 65535"},
	{"mtu too big", func(c *Config) { c.MTU = 65536 }, "MTU", "576 to 65535"},
	{"largest mtu", func(c *Config) { c.MTU = math.MaxInt }, "MTU", "576 to 65535"},
	{"smallest mtu", func(c *Config) { c.MTU = math.MinInt }, "MTU", "576 to 65535"},
	{"keepalive too long", func(c *Config) { c.Peers[0].PersistentKeepalive = 65536 * time.Second }, "Peers[0].PersistentKeepalive", "65535s"},
	{"largest keepalive", func(c *Config) { c.Peers[0].PersistentKeepalive = math.MaxInt64 }, "Peers[0].PersistentKeepalive", "65535s"},
	{"smallest keepalive", func(c *Config) { c.Peers[0].PersistentKeepalive = math.MinInt64 }, "Peers[0].PersistentKeepalive", "65535s"},
	{"expected endpoint without port", func(c *Config) {
		c.Peers[0].Endpoint = netip.AddrPort{}
		c.Peers[0].ExpectedEndpoint = netip.AddrPortFrom(netip.MustParseAddr("203.0.113.2"), 0)
	}, "Peers[0].ExpectedEndpoint", "no port"},
	{"unknown peer route", func(c *Config) { c.PeerRoute = 9 }, "PeerRoute", "PeerRouteRule"},
	{"no address", func(c *Config) { c.Addresses = nil }, "Addresses", "10.0.0.1/32"},
	{"invalid address", func(c *Config) { c.Addresses = []netip.Prefix{{}} }, "Addresses[0]", "address/length"},
	{"duplicate address", func(c *Config) { c.Addresses = append(c.Addresses, pfx("10.0.0.1/32")) }, "Addresses[1]", "once"},
	{"address covers endpoint", func(c *Config) { c.Addresses = []netip.Prefix{pfx("203.0.113.9/24")} }, "Addresses[0]", "narrow"},
	{"no peers", func(c *Config) { c.Peers = nil }, "Peers", "empty"},
	{"no peer key", func(c *Config) { c.Peers[0].PublicKey = wgtypes.Key{} }, "Peers[0].PublicKey", "not set"},
	{"own key as peer", func(c *Config) { c.Peers[0].PublicKey = c.PrivateKey.PublicKey() }, "Peers[0].PublicKey", "own public key"},
	{"private key as peer", func(c *Config) { c.Peers[0].PublicKey = c.PrivateKey }, "Peers[0].PublicKey", "private key"},
	{"duplicate peer key", func(c *Config) {
		c.Peers = append(c.Peers, Peer{PublicKey: c.Peers[0].PublicKey, AllowedIPs: []netip.Prefix{pfx("10.0.0.3/32")}})
	}, "Peers[1].PublicKey", "Peers[0]"},
	{"endpoint without port", func(c *Config) { c.Peers[0].Endpoint = netip.AddrPortFrom(netip.MustParseAddr("203.0.113.2"), 0) }, "Peers[0].Endpoint", "no port"},
	{"unspecified endpoint", func(c *Config) { c.Peers[0].Endpoint = netip.MustParseAddrPort("0.0.0.0:51822") }, "Peers[0].Endpoint", "unicast"},
	{"multicast endpoint", func(c *Config) { c.Peers[0].Endpoint = netip.MustParseAddrPort("224.0.0.1:51822") }, "Peers[0].Endpoint", "unicast"},
	{"transparent without endpoint", func(c *Config) { c.Peers[0].Endpoint = netip.AddrPort{} }, "Peers[0].Endpoint", "exception rule"},
	{"negative keepalive", func(c *Config) { c.Peers[0].PersistentKeepalive = -time.Second }, "Peers[0].PersistentKeepalive", "25s"},
	{"invalid allowed ip", func(c *Config) { c.Peers[0].AllowedIPs = []netip.Prefix{{}} }, "Peers[0].AllowedIPs[0]", "address/length"},
	{"host bits in transparent", func(c *Config) { c.Peers[0].Transparent = []netip.Prefix{pfx("203.0.113.2/24")} }, "Peers[0].Transparent[0]", "203.0.113.0/24"},
	{"endpoint port a rule cannot match", func(c *Config) { c.Peers[0].Endpoint = netip.MustParseAddrPort("203.0.113.2:65535") }, "Peers[0].Endpoint", "ExceptionFwMark"},
	{"link-local address", func(c *Config) { c.Addresses = []netip.Prefix{pfx("fe80::1/64")} }, "Addresses[0]", "link-local"},
	{"address of length 0", func(c *Config) { c.Addresses = []netip.Prefix{pfx("10.0.0.1/0")} }, "Addresses[0]", "single address"},
	{"mapped transparent", func(c *Config) { c.Peers[0].Transparent = []netip.Prefix{pfx("::ffff:203.0.113.2/128")} }, "Peers[0].Transparent[0]", "IPv4-mapped"},
	{"transparent overlaps allowed ips", func(c *Config) { c.Peers[0].Transparent = []netip.Prefix{pfx("10.0.0.0/24")} }, "Peers[0].Transparent[0]", "overlaps Peers[0].AllowedIPs[0]"},
	{"duplicate transparent", func(c *Config) {
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, pfx("203.0.113.2/32"))
	}, "Peers[0].Transparent[1]", "already listed in Peers[0].Transparent[0]"},
	{"prefix on two peers", func(c *Config) {
		c.Peers = append(c.Peers, Peer{PublicKey: testKey(3).PublicKey(), AllowedIPs: []netip.Prefix{pfx("10.0.0.2/32")}})
	}, "Peers[1].AllowedIPs[0]", "one peer only"},
	{"ipv6 transparent without ipv6 address", func(c *Config) {
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, pfx("2001:db8:b::2/128"))
	}, "Peers[0].Transparent[1]", "no IPv6 address"},
	{"prefix option needs wider address", func(c *Config) { c.PeerRoute = PeerRoutePrefix }, "Peers[0].AllowedIPs[0]", "10.0.0.1/30"},
	{"prefix option needs address family", func(c *Config) {
		c.PeerRoute = PeerRoutePrefix
		c.Addresses = []netip.Prefix{pfx("10.0.0.1/30"), pfx("fd00::1/128")}
		c.Peers[0].AllowedIPs = append(c.Peers[0].AllowedIPs, pfx("fd00:1::2/128"))
	}, "Peers[0].AllowedIPs[1]", "widen Addresses[1] to fd00::1/31"},
	{"main option with endpoint in allowed ips", func(c *Config) {
		c.PeerRoute = PeerRouteMain
		c.Peers[0].AllowedIPs = append(c.Peers[0].AllowedIPs, pfx("203.0.112.0/23"))
		c.Peers[0].Transparent = nil
	}, "Peers[0].AllowedIPs[1]", "PeerRouteRule"},
	{"full tunnel without endpoint", func(c *Config) {
		c.Peers[0].Endpoint = netip.AddrPort{}
		c.Peers[0].Transparent = nil
		c.Peers[0].AllowedIPs = []netip.Prefix{pfx("0.0.0.0/0")}
	}, "Peers[0].Endpoint", "length 0"},
	{"full tunnel with main option", func(c *Config) {
		c.PeerRoute = PeerRouteMain
		c.Peers[0].Endpoint = netip.AddrPort{}
		c.Peers[0].Transparent = nil
		c.Addresses = append(c.Addresses, pfx("fd00::1/128"))
		c.Peers[0].AllowedIPs = []netip.Prefix{pfx("::/0")}
		c.Exception = ExceptionFwMark
	}, "Peers[0].AllowedIPs[0]", "suppress_prefixlength"},
	{"fractional keepalive", func(c *Config) { c.Peers[0].PersistentKeepalive = 2500 * time.Millisecond }, "Peers[0].PersistentKeepalive", "whole number of seconds"},
	{"two peers, one endpoint", func(c *Config) {
		c.Peers = append(c.Peers, Peer{PublicKey: testKey(3).PublicKey(), Endpoint: c.Peers[0].Endpoint, AllowedIPs: []netip.Prefix{pfx("10.0.0.3/32")}})
	}, "Peers[1].Endpoint", "also Peers[0]"},
	{"both endpoints", func(c *Config) { c.Peers[0].ExpectedEndpoint = c.Peers[0].Endpoint }, "Peers[0].ExpectedEndpoint", "remove it"},
	{"bad expected endpoint", func(c *Config) { c.Peers[0].ExpectedEndpoint = netip.MustParseAddrPort("[ff02::1]:5") }, "Peers[0].ExpectedEndpoint", "unicast"},
	{"unknown exception mode", func(c *Config) { c.Exception = 7 }, "Exception", "ExceptionFwMark"},
	{"unknown snat mode", func(c *Config) { c.SNAT = 7 }, "SNAT", "SNATInbound"},
	{"public address without snat", func(c *Config) { c.PublicAddresses = []netip.Addr{netip.MustParseAddr("198.51.100.1")} }, "PublicAddresses", "SNAT"},
	{"two public ipv4 addresses", func(c *Config) {
		c.SNAT = SNATOutbound
		c.PublicAddresses = []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.7")}
	}, "PublicAddresses[1]", "one public address per IP family"},
	{"snat without transparent", func(c *Config) { c.SNAT = SNATOutbound; c.Peers[0].Transparent = nil }, "SNAT", "Transparent"},
	{"inbound snat needs single address", func(c *Config) {
		c.SNAT = SNATInbound
		c.Peers[0].Transparent = []netip.Prefix{pfx("203.0.113.0/24")}
	}, "Peers[0].Transparent", "single-address"},
}

func TestValidateRejects(t *testing.T) {
	if len(rejectCases) < 40 {
		t.Fatalf("only %d bad configs; keep at least 40", len(rejectCases))
	}
	expectRejected(t, rejectCases)
}

// expectRejected checks that Validate refuses each case's config with
// ErrInvalidConfig and a well-formed problem naming the case's field.
func expectRejected(t *testing.T, cases []rejectCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := articleA(PeerRouteRule)
			tt.change(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			for _, fe := range fieldErrors(err) {
				if fe.Field == tt.field && strings.Contains(fe.Error(), tt.want) {
					if fe.Fix == "" || strings.Contains(fe.Error(), "%!") {
						t.Errorf("badly formatted: %q", fe.Error())
					}
					return
				}
			}
			t.Errorf("Validate() = %v\nwant a problem with field %s mentioning %q", err, tt.field, tt.want)
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := articleA(PeerRouteRule)
	c.Name = ""
	c.Table = 254
	c.Peers[0].PublicKey = wgtypes.Key{}
	got := map[string]bool{}
	for _, fe := range fieldErrors(c.Validate()) {
		got[fe.Field] = true
	}
	for _, f := range []string{"Name", "Table", "Peers[0].PublicKey"} {
		if !got[f] {
			t.Errorf("no problem reported for %s; got %v", f, got)
		}
	}
}

func TestSmallestCover(t *testing.T) {
	for _, tt := range []struct{ addr, peer, want string }{
		{"10.0.0.1", "10.0.0.2/32", "10.0.0.1/30"},
		{"10.0.0.1", "10.0.0.0/24", "10.0.0.1/24"},
		{"10.0.0.1", "10.0.1.0/32", "10.0.0.1/23"},
		{"fd00::1", "fd00::2/128", "fd00::1/126"},
	} {
		if got := smallestCover(netip.MustParseAddr(tt.addr), pfx(tt.peer)); got.String() != tt.want {
			t.Errorf("smallestCover(%s, %s) = %s, want %s", tt.addr, tt.peer, got, tt.want)
		}
	}
}

func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		out = append(out, fe)
	}
	return out
}
