package wgquick

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/wgtransparent/transparent"
)

// source is where a value of the config came from: the line and the key.
type source struct {
	line int
	key  string
}

// note is one entry of File.Notes, sorted by line.
type note struct {
	line int
	text string
}

// noLine sorts the notes that belong to no line last.
const noLine = 1 << 30

// peerDraft remembers where a peer's lists came from.
type peerDraft struct {
	section     int      // line of its [Peer]
	allowed     []source // parallel to AllowedIPs
	transparent []source // parallel to Transparent
	names       []source // parallel to TransparentNames
	host        string   // the Endpoint's host name, if it has one
	port        uint16   // the port of the Endpoint's host name
}

// parser reads one file into a File.
type parser struct {
	file  string
	f     *File
	cfg   *transparent.Config
	errs  []error
	notes []note

	// at is where each single-valued field was set, by the name
	// transparent.FieldError uses: "PrivateKey", "Peers[0].Endpoint".
	at map[string]source

	section string         // "Interface", "Peer", "" before the first section, "?" in an unknown one
	seen    map[string]int // keys of the current section, by canonical name: line
	iface   int            // line of [Interface]
	addrs   []source       // parallel to Config.Addresses
	public  []source       // parallel to Config.PublicAddresses
	peers   []peerDraft
	hooks   []*hook
}

func newParser(name string) *parser {
	f := &File{}
	f.Config.Name = interfaceName(name)
	return &parser{file: name, f: f, cfg: &f.Config, at: map[string]source{}}
}

// fail records a problem.
func (p *parser) fail(line int, key, problem, fix string, err error) {
	p.errs = append(p.errs, &ParseError{File: p.file, Line: line, Key: key, Problem: problem, Fix: fix, Err: err})
}

// note records a remark for File.Notes.
func (p *parser) note(line int, format string, args ...any) {
	if line <= 0 {
		line = noLine
	}
	p.notes = append(p.notes, note{line, fmt.Sprintf(format, args...)})
}

// scan reads the lines: sections, and each key through its handler.
func (p *parser) scan(data string) {
	for i, text := range strings.Split(data, "\n") {
		n := i + 1
		if j := strings.IndexByte(text, '#'); j >= 0 {
			text = text[:j]
		}
		text = strings.TrimSpace(text)
		switch {
		case text == "":
		case strings.HasPrefix(text, "["):
			p.startSection(n, text)
		default:
			p.entry(n, text)
		}
	}
	if p.iface == 0 {
		p.fail(0, "[Interface]", "missing", "add an [Interface] section with PrivateKey and Address", nil)
	}
}

func (p *parser) startSection(n int, text string) {
	name, ok := strings.CutSuffix(text[1:], "]")
	name = strings.TrimSpace(name)
	switch {
	case !ok:
		p.fail(n, text, "malformed section header", "write [Interface] or [Peer]", nil)
		p.section = "?"
		return
	case strings.EqualFold(name, "Interface"):
		if p.iface != 0 {
			p.fail(n, "[Interface]", fmt.Sprintf("second [Interface] section (the first is on line %d)", p.iface), "merge it into the first", nil)
		} else {
			p.iface = n
			p.seen = map[string]int{}
		}
		p.section = "Interface"
	case strings.EqualFold(name, "Peer"):
		p.section = "Peer"
		p.seen = map[string]int{}
		p.peers = append(p.peers, peerDraft{section: n})
		p.cfg.Peers = append(p.cfg.Peers, transparent.Peer{})
	default:
		p.fail(n, text, "unknown section", "use [Interface] and [Peer] sections only", nil)
		p.section = "?" // its lines are not read
	}
}

// entry handles one "Key = value" line.
func (p *parser) entry(n int, text string) {
	k, value, ok := strings.Cut(text, "=")
	k, value = strings.TrimSpace(k), strings.TrimSpace(value)
	if !ok || k == "" {
		p.fail(n, text, "not a Key = value line", "write Key = value, or comment the line out with #", nil)
		return
	}
	if strings.ContainsAny(k, " \t") { // "PrivateKey KEY=": the '=' is the key's padding
		p.fail(n, k, "not a Key = value line (a key has no spaces)", "write Key = value, or comment the line out with #", nil)
		return
	}
	keys, other := interfaceKeys, peerKeys
	switch p.section {
	case "Interface":
	case "Peer":
		keys, other = peerKeys, interfaceKeys
	case "":
		p.fail(n, k, "outside a section", "put it under [Interface] or [Peer]", nil)
		return
	default: // in an unknown section, reported already
		return
	}
	spec, known := keys[strings.ToLower(k)]
	if !known {
		fix := "remove it, or check its spelling"
		if o, inOther := other[strings.ToLower(k)]; inOther {
			fix = fmt.Sprintf("%s belongs in the other section; move it", o.name)
		}
		p.fail(n, k, fmt.Sprintf("unknown key in [%s]", p.section), fix, nil)
		return
	}
	if first, dup := p.seen[spec.name]; dup && !spec.repeat {
		p.fail(n, spec.name, fmt.Sprintf("given twice (first on line %d)", first), "keep one", nil)
		return
	}
	if _, dup := p.seen[spec.name]; !dup {
		p.seen[spec.name] = n
	}
	if value == "" {
		p.fail(n, spec.name, "empty value", "give a value, or remove the line", nil)
		return
	}
	spec.set(p, n, spec.name, value)
}

// peer returns the index of the current [Peer] and its field prefix.
func (p *parser) peer() (int, string) {
	i := len(p.cfg.Peers) - 1
	return i, fmt.Sprintf("Peers[%d]", i)
}

// prefixes reads a comma list of prefixes, reporting each bad one.
func (p *parser) prefixes(n int, key, value string) []netip.Prefix {
	items, err := splitList(value)
	if err != nil {
		p.fail(n, key, err.Error(), "separate the prefixes with single commas, such as 10.0.0.2/32, 203.0.113.2/32", nil)
		return nil
	}
	var out []netip.Prefix
	for _, it := range items {
		pr, err := parsePrefix(it)
		if err != nil {
			p.fail(n, key, err.Error(), "write an address or an address/length, such as 10.0.0.2/32 or fd00::2/128", err)
			continue
		}
		out = append(out, pr)
	}
	return out
}
