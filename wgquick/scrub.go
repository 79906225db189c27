package wgquick

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from a file reaches errors and notes. Two rules keep that safe:
// control characters (and invalid UTF-8) are escaped as strconv.Quote
// does, so a file cannot rewrite the terminal; and secret keys never
// appear, however the file mangles them.

// hidden replaces a secret in messages.
const hidden = "(hidden)"

// minSecretLen is the shortest PrivateKey or PresharedKey value that is
// hidden wherever it appears in a message: shorter text is no key (a key
// is 44 characters) and would hide ordinary words.
const minSecretLen = 8

// keyShaped matches the base64 text of a 32-byte WireGuard key, with or
// without its final '=': a line such as "PrivateKey KEY=" splits at that
// '=', and the key's text, less the '=', becomes the line's key.
var keyShaped = regexp.MustCompile(`[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=?`)

// clean escapes control characters, other unprintable runes and invalid
// UTF-8 in s as strconv.Quote does (without the quotes); text without
// any is returned as is.
func clean(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// secretKeys are the values of a file's PrivateKey and PresharedKey lines,
// well-formed or not, including a line without '=' ("PrivateKey KEY").
func secretKeys(data string) []string {
	var out []string
	for _, line := range strings.Split(data, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		for _, k := range []string{"privatekey", "presharedkey"} {
			if len(line) < len(k) || !strings.EqualFold(line[:len(k)], k) {
				continue
			}
			v := strings.TrimSpace(line[len(k):])
			v = strings.TrimSpace(strings.TrimLeft(v, "=:"))
			// Without its base64 padding too: "PrivateKey KEY=" splits at
			// the padding.
			for _, x := range []string{v, strings.TrimRight(v, "=")} {
				if len(x) >= minSecretLen {
					out = append(out, x)
				}
			}
		}
	}
	return out
}

// scrubber hides a file's secrets and escapes its control characters.
type scrubber struct {
	secrets []string
	public  map[string]bool // key-shaped text that may be shown: public keys
}

// text makes s safe to print.
func (s *scrubber) text(t string) string {
	for _, sec := range s.secrets {
		t = strings.ReplaceAll(t, sec, hidden)
	}
	t = keyShaped.ReplaceAllStringFunc(t, func(k string) string {
		if s.public[strings.TrimSuffix(k, "=")+"="] {
			return k
		}
		return hidden
	})
	return clean(t)
}

// scrub makes every error and note of the parser safe to print.
func (p *parser) scrub(data string) {
	s := &scrubber{secrets: secretKeys(data), public: map[string]bool{}}
	if p.cfg.PrivateKey != ([32]byte{}) {
		s.public[p.cfg.PrivateKey.PublicKey().String()] = true
	}
	for _, peer := range p.cfg.Peers {
		if peer.PublicKey != ([32]byte{}) {
			s.public[peer.PublicKey.String()] = true
		}
	}
	for _, sec := range s.secrets { // a private key is never shown, even if a peer claims it
		delete(s.public, sec)
	}
	for i, err := range p.errs {
		var pe *ParseError
		if !errors.As(err, &pe) {
			if msg := s.text(err.Error()); msg != err.Error() {
				p.errs[i] = &scrubbedError{msg: msg, is: err}
			}
			continue
		}
		pe.File, pe.Key, pe.Problem, pe.Fix = s.text(pe.File), s.text(pe.Key), s.text(pe.Problem), s.text(pe.Fix)
		if pe.Err != nil && s.text(pe.Err.Error()) != pe.Err.Error() {
			pe.Err = &scrubbedError{msg: s.text(pe.Err.Error()), is: pe.Err}
		}
	}
	for i := range p.notes {
		p.notes[i].text = s.text(p.notes[i].text)
	}
}

// scrubbedError stands in for a cause whose text holds something from
// the file that must not be printed; errors.Is still sees through it, but
// errors.Unwrap does not reach the original text.
type scrubbedError struct {
	msg string
	is  error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.is, target) }
