package wgquick

import (
	"fmt"
	"strings"
)

// hook is one PreUp, PostUp, PreDown or PostDown line, with its command
// parsed when it has one of the article's shapes.
type hook struct {
	kind  string // "PreUp", "PostUp", "PreDown" or "PostDown"
	line  int
	cmd   string
	rule  *ruleCmd
	route *routeCmd
	nat   *natCmd
	block *blockCmd
	done  bool // turned into Config fields (or reported), not kept
}

// parse fills in the command's shape; iface is the interface name.
func (h *hook) parse(iface string) {
	if r, ok := parseRule(h.cmd); ok {
		h.rule = &r
	}
	if r, ok := parseRoute(h.cmd, iface); ok {
		h.route = &r
	}
	if r, ok := parseNAT(h.cmd); ok {
		h.nat = &r
	}
	if r, ok := parseBlock(h.cmd); ok {
		h.block = &r
	}
}

func (h *hook) up() bool   { return h.kind == "PreUp" || h.kind == "PostUp" }
func (h *hook) down() bool { return h.kind == "PreDown" || h.kind == "PostDown" }

// addRule returns the `ip rule add` of an up hook not yet handled, or nil.
func (h *hook) addRule() *ruleCmd {
	if h.done || !h.up() || h.rule == nil || h.rule.del {
		return nil
	}
	return h.rule
}

// undoes reports whether h, a down hook not yet handled, removes what
// the up hook add adds.
func (h *hook) undoes(add *hook) bool {
	if h.done || !h.down() {
		return false
	}
	switch {
	case add.rule != nil && h.rule != nil:
		want := *add.rule
		want.del = true
		return *h.rule == want
	case add.route != nil && h.route != nil:
		want := *add.route
		want.del = true
		return *h.route == want
	case add.nat != nil && h.nat != nil:
		want := *add.nat
		want.del = true
		return *h.nat == want
	case add.block != nil && h.block != nil:
		want := *add.block
		want.del = true
		return *h.block == want
	}
	return false
}

// consume marks an up hook as turned into Config fields, together with
// the down hook that undoes it, and notes what it became.
func (p *parser) consume(h *hook, format string, args ...any) {
	h.done = true
	text := fmt.Sprintf("%s line %d: %s -> %s", h.kind, h.line, h.cmd, fmt.Sprintf(format, args...))
	twin := -1
	for i, t := range p.hooks {
		if t.undoes(h) {
			twin = i
			break
		}
	}
	switch {
	case twin >= 0:
		t := p.hooks[twin]
		t.done = true
		text += fmt.Sprintf(" (with its undo, %s line %d)", t.kind, t.line)
	case h.route == nil:
		text += " (no PostDown undoes it; the library removes it on down)"
	}
	p.note(h.line, "%s", text)
}

// keep moves the hooks not turned into Config fields to the File, in
// order, each with a note.
func (p *parser) keep() {
	for _, h := range p.hooks {
		if h.done {
			continue
		}
		list := map[string]*[]string{"PreUp": &p.f.PreUp, "PostUp": &p.f.PostUp, "PreDown": &p.f.PreDown, "PostDown": &p.f.PostDown}[h.kind]
		*list = append(*list, h.cmd)
		p.note(h.line, "%s line %d: %s: kept as a command, not one of the article's; wg-transparent runs it as wg-quick does", h.kind, h.line, h.cmd)
	}
}

// looseRulePriority returns the priority of any `ip rule add` command,
// whatever its other arguments.
func looseRulePriority(cmd string) (int, bool) {
	args, _, ok := ipCommand(cmd, "rule")
	if !ok || len(args) == 0 || args[0] != "add" {
		return 0, false
	}
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "priority", "pref", "preference", "order":
			n, err := parseUint(strings.TrimSpace(args[i+1]), 32)
			return int(n), err == nil
		}
	}
	return 0, false
}
