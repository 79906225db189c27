package wgquick

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
)

// articleAFile is the article's A with its four changes, the rules given
// as hooks, and extra lines.
func articleAFile(address, extra, allowed string) string {
	return `[Interface]
PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = ` + address + `
ListenPort = 51821
Table = 123
PreUp = ip rule add to 203.0.113.2 dport 51822 table main priority 455
PostDown = ip rule del to 203.0.113.2 dport 51822 table main priority 455
PreUp = ip rule add to 203.0.113.2 table 123 priority 456
PostDown = ip rule del to 203.0.113.2 table 123 priority 456
` + extra + `
[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = 203.0.113.2:51822
AllowedIPs = ` + allowed + "\n"
}

func TestRecognition(t *testing.T) {
	const allowed = "10.0.0.2/32, 203.0.113.2/32"
	for _, tc := range []struct {
		name  string
		file  string
		check func(t *testing.T, f *File)
		kept  []string // PreUp, PostUp, PreDown, PostDown joined
		note  string   // a part of some note
	}{
		{
			name: "article A, prefix",
			file: articleAFile("10.0.0.1/30", "", allowed),
			check: func(t *testing.T, f *File) {
				c, p := f.Config, f.Config.Peers[0]
				want(t, c.PeerRoute == transparent.PeerRoutePrefix && c.Priority == 455 && c.Table == 123 && c.Exception == transparent.ExceptionPort, "prefix, 455, 123, port: %v", c)
				want(t, slices.Equal(p.AllowedIPs, []netip.Prefix{pfx("10.0.0.2/32")}) && slices.Equal(p.Transparent, []netip.Prefix{pfx("203.0.113.2/32")}), "public address moved to Transparent: %v", p)
			},
			note: "PreUp line 8: ip rule add to 203.0.113.2 table 123 priority 456 -> Transparent 203.0.113.2/32",
		},
		{
			name:  "rule, with lookup and pref spellings",
			file:  articleAFile("10.0.0.1/32", "PreUp = ip rule add to 10.0.0.2/32 lookup 123 pref 457\nPostDown = ip rule delete to 10.0.0.2 table 123 priority 457\n", allowed),
			check: peerRoute(transparent.PeerRouteRule),
			note:  "-> PeerRoute rule (with its undo, PostDown line 11)",
		},
		{
			name:  "main, dev %i",
			file:  articleAFile("10.0.0.1/32", "PostUp = ip route add 10.0.0.2 dev %i\n", allowed),
			check: peerRoute(transparent.PeerRouteMain),
			note:  "-> PeerRoute main",
		},
		{
			name:  "main, dev by name",
			file:  articleAFile("10.0.0.1/32", "PostUp = ip route add 10.0.0.2 dev wg0\n", allowed),
			check: peerRoute(transparent.PeerRouteMain),
		},
		{
			name:  "route through another device stays a hook",
			file:  articleAFile("10.0.0.1/32", "PostUp = ip route add 10.0.0.2 dev eth0\n", allowed),
			check: peerRoute(transparent.PeerRouteRule),
			kept:  []string{"ip route add 10.0.0.2 dev eth0"},
			note:  "no route for the peers' tunnel addresses in the file -> PeerRoute = rule: up adds `ip rule add to 10.0.0.2 table 123 priority 457`",
		},
		{
			name:  "full tunnel: the note says what the rules are",
			file:  "[Interface]\nPrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=\nAddress = 10.0.0.1/32\nTable = 123\n\n[Peer]\nPublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=\nEndpoint = 203.0.113.2:51822\nAllowedIPs = 0.0.0.0/0\n",
			check: peerRoute(transparent.PeerRouteRule),
			note:  "AllowedIPs 0.0.0.0/0 sends every destination into the tunnel -> PeerRoute = rule: up adds `ip rule add to 0.0.0.0/1 table 123 priority 457` and `ip rule add to 128.0.0.0/1 table 123 priority 457`, after `ip rule add table main suppress_prefixlength 0 priority 455`",
		},
		{
			name:  "route in PreUp stays a hook",
			file:  articleAFile("10.0.0.1/32", "PreUp = ip route add 10.0.0.2 dev %i\n", allowed),
			check: peerRoute(transparent.PeerRouteRule),
			kept:  []string{"ip route add 10.0.0.2 dev %i"},
		},
		{
			name: "PreUp without its PostDown is recognized; a PostDown without its PreUp is kept",
			file: strings.Replace(articleAFile("10.0.0.1/30", "PostDown = ip rule del to 10.0.0.2 table 123 priority 457\n", allowed),
				"PostDown = ip rule del to 203.0.113.2 table 123 priority 456\n", "", 1),
			check: peerRoute(transparent.PeerRoutePrefix),
			kept:  []string{"ip rule del to 10.0.0.2 table 123 priority 457"},
			note:  "(no PostDown undoes it; the library removes it on down)",
		},
		{
			name: "SNAT outbound",
			file: articleAFile("10.0.0.1/30", "PreUp = iptables -A POSTROUTING -t nat -s 10.0.0.1 -d 203.0.113.2 -j SNAT --to-source 198.51.100.1\nPostDown = iptables -D POSTROUTING -t nat -s 10.0.0.1 -d 203.0.113.2 -j SNAT --to-source 198.51.100.1\n", allowed),
			check: func(t *testing.T, f *File) {
				want(t, f.Config.SNAT == transparent.SNATOutbound && slices.Equal(f.Config.PublicAddresses, []netip.Addr{netip.MustParseAddr("198.51.100.1")}), "SNAT outbound from 198.51.100.1: %v", f.Config)
			},
		},
		{
			name: "SNAT to an address that is not the peer's stays a hook",
			file: articleAFile("10.0.0.1/30", "PreUp = iptables -A POSTROUTING -t nat -s 10.0.0.1 -d 192.0.2.9 -j SNAT --to-source 198.51.100.1\n", allowed),
			check: func(t *testing.T, f *File) {
				want(t, f.Config.SNAT == transparent.SNATOff, "SNAT off: %v", f.Config)
			},
			kept: []string{"iptables -A POSTROUTING -t nat -s 10.0.0.1 -d 192.0.2.9 -j SNAT --to-source 198.51.100.1"},
		},
		{
			name: "ip6tables SNAT and IPv6 rules",
			file: `[Interface]
PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = fd00::1/126
Table = 123
PreUp = ip -6 rule add to 2001:db8:b::2 dport 51822 table main priority 455
PreUp = ip rule add to 2001:db8:b::2/128 table 123 priority 456
PreUp = ip6tables -A POSTROUTING -t nat -s fd00::1 -d 2001:db8:b::2 -j SNAT --to-source 2001:db8:a::1
PostDown = ip6tables -D POSTROUTING -t nat -s fd00::1 -d 2001:db8:b::2/128 -j SNAT --to-source 2001:db8:a::1

[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = [2001:db8:b::2]:51822
AllowedIPs = fd00::2, 2001:db8:b::2
`,
			check: func(t *testing.T, f *File) {
				c := f.Config
				want(t, c.SNAT == transparent.SNATOutbound && c.PeerRoute == transparent.PeerRoutePrefix, "SNAT outbound, prefix: %v", c)
				want(t, slices.Equal(c.Peers[0].Transparent, []netip.Prefix{pfx("2001:db8:b::2/128")}), "Transparent: %v", c.Peers[0])
			},
		},
		{
			name: "fwmark exception",
			file: strings.Replace(articleAFile("10.0.0.1/30", "", allowed), "ip rule add to 203.0.113.2 dport 51822 table main priority 455\nPostDown = ip rule del to 203.0.113.2 dport 51822 table main priority 455",
				"ip rule add fwmark 0xca6c table main priority 455\nPostDown = ip rule del fwmark 51820 lookup main priority 455\nFwMark = 51820", 1),
			check: func(t *testing.T, f *File) {
				want(t, f.Config.Exception == transparent.ExceptionFwMark && f.Config.FwMark == 0xca6c, "fwmark 0xca6c: %v", f.Config)
			},
			note: "-> Exception fwmark (FwMark 0xca6c), Priority 455 (with its undo, PostDown line 7)",
		},
		{
			name: "fwmark rule without FwMark is no exception rule",
			file: articleAFile("10.0.0.1/30", "PreUp = ip rule add fwmark 0x1 table main priority 100\n", allowed),
			kept: []string{"ip rule add fwmark 0x1 table main priority 100"},
		},
		{
			name: "Priority from the rules",
			file: strings.ReplaceAll(articleAFile("10.0.0.1/30", "", allowed), "priority 45", "priority 100"),
			check: func(t *testing.T, f *File) {
				want(t, f.Config.Priority == 1005, "Priority 1005: %v", f.Config)
			},
		},
		{
			name: "rules outside the tunnel's priorities stay hooks",
			file: articleAFile("10.0.0.1/30", "Priority = 1000\n", allowed),
			check: func(t *testing.T, f *File) {
				want(t, f.Config.Priority == 1000 && len(f.Config.Peers[0].Transparent) == 0, "Priority 1000, nothing transparent: %v", f.Config)
			},
			kept: []string{"ip rule add to 203.0.113.2 dport 51822 table main priority 455", "ip rule add to 203.0.113.2 table 123 priority 456",
				"ip rule del to 203.0.113.2 dport 51822 table main priority 455", "ip rule del to 203.0.113.2 table 123 priority 456"},
		},
		{
			name: "a plain tunnel at Table auto, its peer route",
			file: "[Interface]\nPrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=\nAddress = 10.0.0.2/32\n\n[Peer]\nPublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=\nAllowedIPs = 10.0.0.1/32\n",
			check: func(t *testing.T, f *File) {
				notes := strings.Join(f.Notes, "\n")
				want(t, !strings.Contains(notes, "table -1") && !strings.Contains(notes, "priority 1`"), "no note names TableAuto's or PriorityAuto's value: %s", notes)
			},
			note: "up adds a rule to 10.0.0.1/32 and the like, into the table and at the priority it chooses (Table = auto)",
		},
		{
			name: "native keys",
			file: `[interface]
privatekey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEE=
Address = 10.0.0.1  # a bare address is a /32
Priority = 600
PeerRoute = MAIN
Exception = fwmark
SNAT = inbound
PublicAddress = 203.0.113.2
DNS = 10.0.0.2,example.internal
SaveConfig = true
PostUp = logger up
[Peer]
PublicKey = fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds=
Endpoint = app.example.com:51822
AllowedIPs = 10.0.0.2
Transparent = 198.51.100.1
PersistentKeepalive = 25
`,
			check: func(t *testing.T, f *File) {
				c := f.Config
				want(t, c.Priority == 600 && c.PeerRoute == transparent.PeerRouteMain && c.Exception == transparent.ExceptionFwMark && c.FwMark == 0xca6c && c.SNAT == transparent.SNATInbound, "native keys: %v", c)
				want(t, c.Addresses[0] == pfx("10.0.0.1/32") && !c.Peers[0].Endpoint.IsValid() && f.EndpointNames[0] == "app.example.com" && c.Peers[0].PersistentKeepalive == 25*time.Second, "values: %v", c)
				want(t, slices.Equal(f.DNS, []string{"10.0.0.2", "example.internal"}) && f.SaveConfig, "DNS and SaveConfig kept: %+v", f)
			},
			kept: []string{"logger up"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, []byte(tc.file))
			if tc.check != nil {
				tc.check(t, f)
			}
			kept := slices.Concat(f.PreUp, f.PostUp, f.PreDown, f.PostDown)
			if !slices.Equal(kept, tc.kept) {
				t.Errorf("kept hooks = %q, want %q", kept, tc.kept)
			}
			for _, h := range kept {
				if !slices.ContainsFunc(f.Notes, func(n string) bool {
					return strings.Contains(n, h+": kept as a command, not one of the article's; wg-transparent runs it")
				}) {
					t.Errorf("no note for kept hook %q: %q", h, f.Notes)
				}
			}
			if tc.note != "" && !slices.ContainsFunc(f.Notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
				t.Errorf("no note contains %q:\n%s", tc.note, strings.Join(f.Notes, "\n"))
			}
			roundTrip(t, f)
		})
	}
}

// TestEndpointResolution: parsing keeps a host name with its port, not
// looked up; Resolve (with the system's resolver when given no Lookup)
// sets its first address, an IPv4-mapped answer unmapped.
func TestEndpointResolution(t *testing.T) {
	for text, wantEP := range map[string]string{"app.example.com:51822": "203.0.113.2:51822", "mapped.example.com:1": "198.51.100.1:1", "[2001:db8::9]:7": "[2001:db8::9]:7"} {
		ep, host, port, err := parseEndpoint(text)
		if err != nil || host == "" && ep != ap(wantEP) || host != "" && (ep.IsValid() || port != ap(wantEP).Port()) {
			t.Errorf("parseEndpoint(%q) = %v, %q, %d, %v", text, ep, host, port, err)
			continue
		}
		if host == "" {
			continue
		}
		f := &File{Config: transparent.Config{Peers: []transparent.Peer{{}}}, EndpointNames: []string{host}, EndpointPorts: []uint16{port}}
		if _, err := f.Resolve(context.Background(), nil); err != nil || f.Config.Peers[0].Endpoint != ap(wantEP) {
			t.Errorf("Resolve of %q = %v, %v; want %s", text, f.Config.Peers[0].Endpoint, err, wantEP)
		}
	}
}

func peerRoute(pr transparent.PeerRoute) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		want(t, f.Config.PeerRoute == pr, "PeerRoute %s: %v", pr, f.Config)
	}
}

func want(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf("want "+format, args...)
	}
}
