package wgquick

import (
	"errors"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
)

// interfaceA is a valid [Interface] of the article's A, plain
// point-to-point; peerB its [Peer]. Line numbers in the tests count from
// the first line of interfaceA.
const (
	interfaceA = `[Interface]
PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = 10.0.0.1/32
ListenPort = 51821
Table = 123
`
	peerB = `
[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
`
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		line int
		key  string
		want string // a part of the message
	}{
		{"unknown key", interfaceA + "Foo = bar\n" + peerB, 6, "Foo", "unknown key in [Interface]"},
		{"peer key in [Interface]", interfaceA + "Endpoint = 1.2.3.4:5\n" + peerB, 6, "Endpoint", "move it"},
		{"unknown section", interfaceA + "[Pier]\nPublicKey = x\n" + peerB, 6, "[Pier]", "unknown section"},
		{"malformed section", interfaceA + "[Peer\n" + peerB, 6, "[Peer", "malformed section header"},
		{"outside a section", "PrivateKey = x\n" + interfaceA + peerB, 1, "PrivateKey", "outside a section"},
		{"no equals sign", interfaceA + "ListenPort 51821\n" + peerB, 6, "ListenPort 51821", "not a Key = value line"},
		{"bad key", strings.Replace(interfaceA, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=", "AAAA=", 1) + peerB, 2, "PrivateKey", "not a WireGuard key"},
		{"bad address", strings.Replace(interfaceA, "10.0.0.1/32", "10.0.0.300/32", 1) + peerB, 3, "Address", `"10.0.0.300/32" is not an address prefix`},
		{"empty list item", strings.Replace(interfaceA, "10.0.0.1/32", "10.0.0.1/32,,fd00::1", 1) + peerB, 3, "Address", "empty item"},
		{"bad listen port", strings.Replace(interfaceA, "51821", "70000", 1) + peerB, 4, "ListenPort", `"70000" is not a number`},
		{"bad endpoint port", interfaceA + strings.Replace(peerB, ":51822", ":0", 1), 9, "Endpoint", "no valid port"},
		{"unbracketed IPv6 endpoint", interfaceA + strings.Replace(peerB, "203.0.113.2:51822", "2001:db8::2:51822", 1), 9, "Endpoint", "not address:port"},
		{"endpoint name port", interfaceA + "PeerRoute = main\n" + strings.Replace(peerB, "203.0.113.2:51822", "nowhere.example:65535", 1), 10, "Endpoint", "cannot be matched by a policy rule"},
		{"duplicate PrivateKey", interfaceA + "PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=\n" + peerB, 6, "PrivateKey", "given twice (first on line 2)"},
		{"duplicate key, other case", interfaceA + "listenport = 1\n" + peerB, 6, "ListenPort", "given twice"},
		{"second [Interface]", interfaceA + "[Interface]\n" + peerB, 6, "[Interface]", "second [Interface]"},
		{"Table off with Transparent", strings.Replace(interfaceA, "Table = 123", "Table = off", 1) + peerB + "Transparent = 198.51.100.7\n", 7, "Transparent", "Table is off"},
		{"Table name", strings.Replace(interfaceA, "Table = 123", "Table = vpn", 1) + peerB, 5, "Table", "not a routing table number"},
		{"bad PeerRoute", interfaceA + "PeerRoute = sideways\n" + peerB, 6, "PeerRoute", "use main, prefix or rule"},
		{"bad Exception", interfaceA + "Exception = always\n" + peerB, 6, "Exception", "use fwmark or port"},
		{"bad SNAT", interfaceA + "SNAT = both\n" + peerB, 6, "SNAT", "use inbound, off or outbound"},
		{"bad SaveConfig", interfaceA + "SaveConfig = yes\n" + peerB, 6, "SaveConfig", "use false or true"},
		{"bad FwMark", interfaceA + "FwMark = 0xfffffffff\n" + peerB, 6, "FwMark", "not a 32-bit mark"},
		{"bad keepalive", interfaceA + peerB + "PersistentKeepalive = soon\n", 11, "PersistentKeepalive", "not a number of seconds"},
		{"zero Priority", interfaceA + "Priority = 0\n" + peerB, 6, "Priority", "not a rule priority"},
		{"bad PublicAddress", interfaceA + "PublicAddress = 198.51.100.1/32\n" + peerB, 6, "PublicAddress", "not an IP address"},
		{"bad ExpectedEndpoint", interfaceA + peerB + "ExpectedEndpoint = a.example:1\n", 11, "ExpectedEndpoint", "not address:port"},
		{"empty value", interfaceA + "DNS =\n" + peerB, 6, "DNS", "empty value"},
		{"no [Interface]", peerB, 0, "[Interface]", "missing"},
		// problems found when the hooks are read
		{"rule to another table", interfaceA + "PreUp = ip rule add to 203.0.113.2 table 124 priority 456\n" + strings.Replace(peerB, "10.0.0.2/32", "10.0.0.2/32, 203.0.113.2/32", 1), 6, "PreUp", "table 124 is not Table 123"},
		{"transparent address not in AllowedIPs", interfaceA + "PreUp = ip rule add to 203.0.113.2 table 123 priority 456\n" + peerB, 6, "PreUp", "203.0.113.2/32 is in no peer's AllowedIPs"},
		{"exception rule for no peer", interfaceA + "PreUp = ip rule add to 192.0.2.1 dport 51822 table main priority 455\n" + peerB, 6, "PreUp", "no peer has Endpoint 192.0.2.1:51822"},
		{"foreign rule in the range", interfaceA + "PostUp = ip rule add from 10.0.0.0/24 table 7 priority 457\n" + peerB, 6, "PostUp", "not one of its rules"},
		{"route and rule options both", interfaceA + "PostUp = ip route add 10.0.0.2 dev %i\nPreUp = ip rule add to 10.0.0.2 table 123 priority 457\n" + peerB, 7, "PreUp", "keep one of the article's options"},
		{"hook against PeerRoute key", interfaceA + "PeerRoute = prefix\nPostUp = ip route add 10.0.0.2 dev wg0\n" + peerB, 7, "PostUp", "means PeerRoute main, but PeerRoute line 6 says prefix"},
		{"exception rules of both kinds", interfaceA + "FwMark = 0xca6c\nPreUp = ip rule add fwmark 0xca6c table main priority 455\nPreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455\n" + peerB, 8, "PreUp", "exception rules of both kinds"},
		{"fwmark rule with another mark", interfaceA + "FwMark = 1\nPreUp = ip rule add fwmark 2 table main priority 455\n" + peerB, 7, "PreUp", "fwmark 0x2 is not the device's FwMark 0x1"},
		{"SNAT from a second public address", interfaceA + "PublicAddress = 198.51.100.7\n" +
			"PreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455\nPreUp = ip rule add to 203.0.113.2 table 123 priority 456\n" +
			"PreUp = iptables -A POSTROUTING -t nat -s 10.0.0.1 -d 203.0.113.2 -j SNAT --to-source 198.51.100.1\n" +
			strings.Replace(peerB, "10.0.0.2/32", "10.0.0.2/32, 203.0.113.2/32", 1), 9, "PreUp", "public address 198.51.100.1, but PublicAddress line 6 says 198.51.100.7"},
		{"SNAT hook against the SNAT key", interfaceA + "SNAT = inbound\n" +
			"PreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455\nPreUp = ip rule add to 203.0.113.2 table 123 priority 456\n" +
			"PreUp = iptables -A POSTROUTING -t nat -s 10.0.0.1 -d 203.0.113.2 -j SNAT --to-source 198.51.100.1\n" +
			strings.Replace(peerB, "10.0.0.2/32", "10.0.0.2/32, 203.0.113.2/32", 1), 9, "PreUp", "means SNAT outbound, but SNAT line 6 says otherwise"},
		// problems found by Config.Validate, at the line of the field
		{"host bits in AllowedIPs", interfaceA + strings.Replace(peerB, "10.0.0.2/32", "10.0.0.2/30", 1), 10, "AllowedIPs", "has host bits set"},
		{"PublicAddress without SNAT", interfaceA + "PublicAddress = 198.51.100.1\n" + peerB, 6, "PublicAddress", "SNAT is off"},
		{"own key as peer", interfaceA + strings.Replace(peerB, articlePubB, articlePubA, 1), 8, "PublicKey", "this endpoint's own public key"},
		{"no [Peer]", interfaceA, 0, "[Peer]", "empty"},
		{"interface name too long", "", 0, "file name", "longer than 15 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "wg0.conf"
			file := tc.file
			if tc.key == "file name" {
				name, file = "/etc/wireguard/a-very-long-interface.conf", interfaceA+peerB
			}
			_, err := Parse(name, []byte(file))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error at line %d", tc.line)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("no *ParseError in %v", err)
			}
			if pe.File != name || pe.Line != tc.line || pe.Key != tc.key || !strings.Contains(pe.Error(), tc.want) {
				t.Errorf("first error = %q (line %d, key %q), want line %d, key %q, containing %q", pe, pe.Line, pe.Key, tc.line, tc.key, tc.want)
			}
			if pe.Fix == "" {
				t.Errorf("%q has no fix", pe)
			}
		})
	}
}

func TestParseErrorFormat(t *testing.T) {
	e := &ParseError{File: "wg0.conf", Line: 12, Key: "Table", Problem: `"off" is a wg-quick value`, Fix: "use 123"}
	if got, want := e.Error(), `wg0.conf:12: Table: "off" is a wg-quick value; use 123`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.Line = 0
	if got, want := e.Error(), `wg0.conf: Table: "off" is a wg-quick value; use 123`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestParseReportsAllProblems: every syntax problem at once.
func TestParseReportsAllProblems(t *testing.T) {
	file := "[Interface]\nPrivateKey = nope\nAddress = 10.0.0.1/33\nMTU = big\nBogus = 1\n\n[Peer]\nPublicKey = nope\nEndpoint = 1.2.3.4\n"
	_, err := Parse("wg0.conf", []byte(file))
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		lines = append(lines, e.(*ParseError).Line)
	}
	if want := []int{2, 3, 4, 5, 8, 9}; !equalInts(lines, want) {
		t.Errorf("error lines = %v, want %v\n%v", lines, want, err)
	}
}

// TestValidateErrorsKeepTheirCause: a file that parses but is not a valid
// tunnel reports the FieldError, mapped to its line.
func TestValidateErrorsKeepTheirCause(t *testing.T) {
	file := interfaceA +
		"PreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455\n" +
		"PreUp = ip rule add to 10.0.0.0/24 table 123 priority 456\n" +
		strings.Replace(peerB, "10.0.0.2/32", "10.0.0.2/32, 10.0.0.0/24", 1)
	_, err := Parse("wg0.conf", []byte(file))
	var fe *transparent.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, transparent.ErrInvalidConfig) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v has no *transparent.FieldError", err)
	}
	// Transparent 10.0.0.0/24 (from the rule) overlaps AllowedIPs
	// 10.0.0.2/32: the error points at the AllowedIPs line that lists it.
	var pe *ParseError
	errors.As(err, &pe)
	if fe.Field != "Peers[0].Transparent[0]" || pe.Line != 12 || pe.Key != "AllowedIPs" {
		t.Errorf("error = %v (field %s, line %d, key %s), want Peers[0].Transparent[0] at line 12, AllowedIPs", err, fe.Field, pe.Line, pe.Key)
	}
}

func TestInterfaceName(t *testing.T) {
	for name, want := range map[string]string{"wg0.conf": "wg0", "/etc/wireguard/wg1.conf": "wg1", "wg2": "wg2"} {
		f, err := Parse(name, []byte(interfaceA+peerB))
		if err != nil {
			t.Fatal(err)
		}
		if f.Config.Name != want {
			t.Errorf("Parse(%q).Config.Name = %q, want %q", name, f.Config.Name, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
