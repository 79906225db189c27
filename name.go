package transparent

import (
	"fmt"
	"strings"
)

// A tunnel's Name becomes the link's name, the UAPI socket
// /var/run/wireguard/<Name>.sock, the nf_tables tables
// wgtransparent-<Name>, the iptables chain WGT-<Name> and its rules'
// comment "wgtransparent <Name>", and a word of the commands Plan prints
// (ip, wg, nft, iptables). Linux alone refuses few names (empty, longer
// than 15 bytes, "." and "..", '/', ':', white space, and "all" and
// "default", which its per-interface sysctl directories reserve), but
// the tools are stricter: nft cannot name a table with '=', '+', '@', '#'
// or quotes at all (quoted names are not identifiers to it), '#' starts a
// comment there, and a name starting with '-' reads as an option to ip and
// wg. So a Name is what every one of them takes as it is: wg-quick's
// characters less '=' and '+'.
const (
	// maxNameLen is IFNAMSIZ (16) less the terminating NUL.
	maxNameLen = 15
	// nameChars are the characters allowed in a Name besides ASCII
	// letters and digits.
	nameChars = "_.-"
	// nameRule is the rule, as the fix of a bad Name states it.
	nameRule = "use 1 to 15 letters (ASCII), digits, '_', '.' or '-', starting with a letter, digit or '_', such as \"wg0\""
)

// checkName returns what is wrong with a tunnel Name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	case name == "all" || name == "default":
		return "is reserved by Linux (/proc/sys/net/ipv4/conf/" + name + " configures every interface)"
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; !nameByte(b) {
			return "contains " + describeByte(b)
		}
	}
	if b := name[0]; b == '.' || b == '-' {
		return fmt.Sprintf("starts with %q", rune(b))
	}
	return ""
}

func nameByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte(nameChars, b) >= 0
}

// describeByte names a byte for a message: quoted when printable ASCII,
// else in hex, so that a NUL or a control character shows.
func describeByte(b byte) string {
	switch {
	case b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f':
		return fmt.Sprintf("white space %q", rune(b))
	case b > ' ' && b < 0x7f:
		return fmt.Sprintf("%q", rune(b))
	}
	return fmt.Sprintf("the byte %#02x", b)
}
