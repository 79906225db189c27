package testns

import (
	"fmt"
	"os/exec"
	"strings"
)

// Nft runs an nft script in the namespace (nft -f -) and returns its
// output.
func (n *NS) Nft(script string) (string, error) {
	var out []byte
	err := n.Do(func() (err error) {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		return string(out), fmt.Errorf("nft in %s: %w: %s", n, err, out)
	}
	return string(out), nil
}

// CutUDP drops, at a router n, the forwarded UDP to and from port both
// ways, as a firewall on the path that blocks WireGuard would: the
// failover tests' and benchmarks' cut of the path to B. It is one
// nf_tables table, named table; HealUDP deletes it.
func (n *NS) CutUDP(table string, port int) error {
	_, err := n.Nft(fmt.Sprintf(`table inet %s {
	chain cut {
		type filter hook forward priority 0;
		udp dport %[2]d drop
		udp sport %[2]d drop
	}
}`, table, port))
	return err
}

// HealUDP undoes CutUDP's table.
func (n *NS) HealUDP(table string) error {
	_, err := n.Nft("delete table inet " + table)
	return err
}
