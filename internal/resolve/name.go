package resolve

import (
	"fmt"
	"net/netip"
	"strings"
)

// Limits of a host name (RFC 1035 section 2.3.4, RFC 1123 section 2.1).
const (
	// maxNameLen is the longest name in text form without its trailing
	// dot: 255 octets on the wire are 253 characters of text.
	maxNameLen = 253
	// maxLabelLen is the longest label.
	maxLabelLen = 63
)

// ValidName reports whether name is a host name this package resolves, and
// if not, what is wrong and how to fix it. A valid name:
//
//   - is made of labels of 1 to 63 letters, digits and hyphens, separated by
//     dots, no label starting or ending with a hyphen (RFC 1123); no
//     underscores, spaces or other characters;
//   - is at most 253 characters long, not counting one optional trailing
//     dot;
//   - has at least two labels ("app.example.com", not "app"): names are
//     sent to the server as they are, fully qualified, without the search
//     domains of resolv.conf, so a single label would be asked as a
//     top-level domain;
//   - is not an IP address, and its last label is not all digits (RFC 3696
//     section 2), which catches mistyped addresses such as "10.0.0.256":
//     addresses belong in the Transparent prefixes, not among the names.
//
// Case does not matter; [Canonical] gives the form used as a key.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name: write a host name such as app.example.com", ErrInvalidName)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("%w: %q is an IP address, not a name: put it in Transparent as %s", ErrInvalidName, name, hostPrefix(name))
	}
	if _, err := netip.ParsePrefix(name); err == nil {
		return fmt.Errorf("%w: %q is a prefix, not a name: put it in Transparent", ErrInvalidName, name)
	}
	n := strings.TrimSuffix(name, ".")
	if len(n) > maxNameLen {
		return fmt.Errorf("%w: %q is %d characters long, more than the %d a DNS name can have", ErrInvalidName, name, len(n), maxNameLen)
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%w: %q is a single label: write the fully qualified name (such as %s.example.com); search domains are not applied", ErrInvalidName, name, n)
	}
	for _, l := range labels {
		if err := validLabel(l); err != nil {
			return fmt.Errorf("%w: %q: %s", ErrInvalidName, name, err)
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return fmt.Errorf("%w: %q ends in the all-numeric label %q, which no top-level domain is: if it is an address, write it as one in Transparent", ErrInvalidName, name, labels[len(labels)-1])
	}
	return nil
}

// validLabel checks one label of a name; its error is a phrase for
// ValidName's message.
func validLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("empty label (two dots in a row, or a leading dot): remove the extra dot")
	case len(l) > maxLabelLen:
		return fmt.Errorf("label %q is %d characters long, more than %d", l, len(l), maxLabelLen)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen, which host names may not", l)
	}
	for _, c := range []byte(l) {
		if !isLetterDigit(c) && c != '-' {
			return fmt.Errorf("label %q has the character %q: host names have only letters, digits and hyphens", l, rune(c))
		}
	}
	return nil
}

func isLetterDigit(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// hostPrefix writes an address as the host prefix to put in Transparent.
func hostPrefix(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	return netip.PrefixFrom(a.WithZone(""), a.BitLen()).String()
}

// Canonical returns name in the form used as a key and shown to users: in
// lower case, without a trailing dot. It does not validate name.
func Canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
