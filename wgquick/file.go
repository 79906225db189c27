package wgquick

import (
	"cmp"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent"
)

// File is a wg-quick configuration: the tunnel's transparent.Config plus
// what the library does not apply itself. Nothing in a file is dropped
// silently.
type File struct {
	// Config is the tunnel. Parse fills in Name (from the file name),
	// Table (from the file's rules when it has no Table key, else
	// transparent.TableAuto), Priority (from the file's rules, else
	// transparent.PriorityAuto with Table auto, else 455) and, in fwmark
	// exception mode, FwMark (0xca6c when the file has none), so that it
	// is explicit.
	Config transparent.Config

	// PrivateKeyFile is the path of a file that holds the private key
	// ([Interface] PrivateKeyFile, systemd-networkd's key, or the hook
	// `PostUp = wg set %i private-key FILE`), or "". Parse does not read
	// it (Config.PrivateKey stays zero, and the file needs no PrivateKey);
	// ReadPrivateKey does.
	PrivateKeyFile string

	// EndpointNames holds, for each peer of Config.Peers by index, the
	// host name of its Endpoint as the file writes it ("vpn.example.com"),
	// or "" for an Endpoint given as an address; nil when no Endpoint uses
	// a name. Parse does no lookup: such a peer's Config.Peers[i].Endpoint
	// is zero until Resolve sets it (and Resolve looks the names up again
	// later, as wg-quick's reresolve-dns.sh does). Render and RenderNative
	// write the name back.
	EndpointNames []string

	// EndpointPorts holds the port of each Endpoint of EndpointNames, by
	// peer index (0 for a peer without an Endpoint name); nil when
	// EndpointNames is.
	EndpointPorts []uint16

	// ResolvedNames holds addresses of the peers' TransparentNames, by
	// name, for Render: plain wg-quick cannot follow a name, so Render
	// writes these addresses as Transparent ones, with a comment saying
	// they are those of render time. Parse leaves it nil; ResolveNames
	// fills it. RenderNative writes the names and ignores it.
	ResolvedNames map[string][]netip.Addr

	// DNS is [Interface] DNS, kept: wg-quick runs resolvconf with it, the
	// library does not (the wg-transparent command does, like wg-quick, or
	// sets it with systemd-resolved).
	DNS []string

	// SaveConfig is [Interface] SaveConfig, kept: wg-quick saves the
	// running device into the file on down, the library does not (the
	// wg-transparent command does, like wg-quick).
	SaveConfig bool

	// PreUp, PostUp, PreDown and PostDown are the hooks that Parse did not
	// turn into Config fields, in file order. The library does not run
	// them; the wg-transparent command runs them like wg-quick.
	PreUp, PostUp, PreDown, PostDown []string

	// Notes are human-readable remarks, in file order: what Parse
	// recognized and what it kept without applying it.
	Notes []string
}

// Parse reads a wg-quick file. name is the file's name, used in errors
// ("wg0.conf") and, without its directory and ".conf", as the interface
// name, as wg-quick does.
//
// Errors and notes never show a PrivateKey or PresharedKey value, however
// malformed the line, and show the file's control characters escaped.
//
// Parse does no network I/O: an Endpoint host name is kept, not looked up
// (EndpointNames; Resolve looks it up), so that what does not need the
// peer's address (bringing a tunnel down, rendering) works without DNS.
// The file is checked as if each such name had an address.
//
// Parse reports every problem of the file at once, joined with
// errors.Join, each a *ParseError. Syntax problems come first; only a file
// without them is checked as a tunnel, with transparent.Config.Validate,
// whose problems are mapped back to the lines that set the fields.
func Parse(name string, data []byte) (*File, error) {
	p := newParser(name)
	p.scan(string(data))
	p.keepEndpointNames()
	if len(p.errs) == 0 {
		p.recognize()
	}
	if len(p.errs) == 0 {
		p.validate()
	}
	p.scrub(string(data))
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	slices.SortStableFunc(p.notes, func(a, b note) int { return cmp.Compare(a.line, b.line) })
	for _, n := range p.notes {
		p.f.Notes = append(p.f.Notes, n.text)
	}
	return p.f, nil
}

// keepEndpointNames sets the File's EndpointNames and EndpointPorts from
// the peers' Endpoint lines.
func (p *parser) keepEndpointNames() {
	for i, d := range p.peers {
		if d.host != "" {
			if p.f.EndpointNames == nil {
				p.f.EndpointNames = make([]string, len(p.peers))
				p.f.EndpointPorts = make([]uint16, len(p.peers))
			}
			p.f.EndpointNames[i], p.f.EndpointPorts[i] = d.host, d.port
		}
	}
}

// interfaceName is the interface wg-quick would make for the file name.
func interfaceName(name string) string {
	return strings.TrimSuffix(filepath.Base(name), ".conf")
}
