package iptsave

import "strings"

// Chains is a table as iptables-save prints it: each chain (the built-in
// ones too) with its rules, each as its arguments after "-A CHAIN".
type Chains map[string][][]string

// Parse reads the chains (":NAME POLICY [counters]") and rules
// ("-A NAME args...") of iptables-save's output.
func Parse(out string) Chains {
	chains := Chains{}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if _, ok := chains[name]; !ok {
				chains[name] = nil
			}
		case strings.HasPrefix(line, "-A "):
			if args := Split(line); len(args) > 2 {
				chains[args[1]] = append(chains[args[1]], args[2:])
			}
		}
	}
	return chains
}

// Quote quotes an argument for iptables-restore, which splits lines on
// spaces and understands double quotes.
func Quote(arg string) string {
	if arg != "" && !strings.ContainsAny(arg, " \t\"\\") {
		return arg
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(arg) + `"`
}

// Split splits a line of `iptables -S` (or iptables-save) into arguments,
// undoing its double quotes (as around a comment with spaces).
func Split(line string) []string {
	var args []string
	var cur strings.Builder
	quoted, inArg := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && quoted && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			quoted, inArg = !quoted, true
		case c == ' ' && !quoted:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}
