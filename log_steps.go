//go:build linux

package transparent

import (
	"context"
	"log/slog"
)

// Every change Up and Down make is logged at level Info with a short,
// constant message, LogChange (LogUndo for a rollback's), for log
// processors to match, and attributes that say what changed:
//
//   - "op": add, remove or replace, as Plan's Change.Op (under LogUndo,
//     the op of the change undone);
//   - "step": the change in words, as Plan's Change.Step, such as
//     "add rule 456 to 203.0.113.2/32 lookup 123";
//   - the object's: "link"; "address"; "route" and "table"; "rule",
//     "priority" and "table"; "peers" (their public keys, secrets hidden);
//     "firewall", "family" and "hook".
//
// The logger of WithLogger adds "tunnel", the tunnel's Name.
const (
	LogChange = "change"
	LogUndo   = "undo"
)

// objectAttrs are the log attributes of the object a step changes.
type objectAttrs interface{ attrs() []slog.Attr }

// logStep logs step s under msg (LogChange or LogUndo).
func (t *Tunnel) logStep(msg string, s step) {
	attrs := []slog.Attr{slog.String("op", string(s.op())), slog.String("step", s.String())}
	if o, ok := s.(objectAttrs); ok {
		attrs = append(attrs, o.attrs()...)
	}
	t.log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}

func linkAttr(name string) []slog.Attr { return []slog.Attr{slog.String("link", name)} }

func (s *createLink) attrs() []slog.Attr { return linkAttr(s.name) }
func (s *deleteLink) attrs() []slog.Attr { return linkAttr(s.name) }
func (s *setMTU) attrs() []slog.Attr {
	return append(linkAttr(s.name), slog.Int("mtu", s.mtu))
}
func (s *setUp) attrs() []slog.Attr { return linkAttr(s.name) }
func (s *addAddress) attrs() []slog.Attr {
	return append(linkAttr(s.name), slog.String("address", s.addr.String()))
}
func (s *delAddress) attrs() []slog.Attr { return (*addAddress)(s).attrs() }
func (s *addRoute) attrs() []slog.Attr {
	return append(linkAttr(s.name), slog.String("route", s.route.Dst.String()), slog.String("table", tableName(s.route.Table)))
}
func (s *delRoute) attrs() []slog.Attr { return (*addRoute)(s).attrs() }
func (s *addRule) attrs() []slog.Attr {
	return ruleAttrs(s.rule.String(), s.rule.Priority, s.rule.Table)
}
func (s *delRule) attrs() []slog.Attr {
	if s.rule.ok {
		return ruleAttrs(s.rule.spec.String(), s.rule.spec.Priority, s.rule.spec.Table)
	}
	return ruleAttrs(foreignRuleText(s.rule.raw), s.rule.raw.Priority, s.rule.raw.Table)
}

func ruleAttrs(text string, priority, table int) []slog.Attr {
	return []slog.Attr{slog.String("rule", text), slog.Int("priority", priority), slog.String("table", tableName(table))}
}

func (s *configureDevice) attrs() []slog.Attr {
	secrets := deviceSecrets(&s.cfg, s.old)
	peers := make([]string, len(s.cfg.Peers))
	for i, p := range s.cfg.Peers {
		peers[i] = keyText(p.PublicKey, secrets)
	}
	return append(linkAttr(s.name), slog.Any("peers", peers))
}

func firewallAttrs(fw firewall, family int) []slog.Attr {
	return []slog.Attr{slog.String("firewall", fw.kind()), slog.String("family", familyString(family))}
}

func (s *setChain) attrs() []slog.Attr { return firewallAttrs(s.fw, s.family) }
func (s *delChain) attrs() []slog.Attr { return firewallAttrs(s.fw, s.family) }
func (s *addJump) attrs() []slog.Attr {
	return append(firewallAttrs(s.fw, s.family), slog.String("hook", s.hook))
}
func (s *delJump) attrs() []slog.Attr { return (*addJump)(s).attrs() }
