package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/wgtransparent/transparent"
)

// The --json output. The field names are part of the command's interface
// (documented in the package doc and the README); add fields, never
// rename them.

// changeJSON is one line of a plan.
type changeJSON struct {
	Op      string `json:"op"`      // "keep", "add", "replace" or "remove"
	Step    string `json:"step"`    // as in logs: "add rule 456 to 203.0.113.2/32 lookup 123"
	Command string `json:"command"` // the equivalent ip, wg, nft or iptables command
}

// planJSON is `plan --json`.
type planJSON struct {
	Interface string          `json:"interface"`
	Changes   []changeJSON    `json:"changes"` // every object, "keep" included
	Pending   int             `json:"pending"` // changes that are not "keep"
	Peers     []peerStateJSON `json:"peers"`   // each peer's failover state
}

// checkJSON is `check --json`.
type checkJSON struct {
	Interface string          `json:"interface"`
	InSync    bool            `json:"in_sync"`
	Changes   []changeJSON    `json:"changes"`           // what up would change; empty when in sync
	Peers     []peerStateJSON `json:"peers"`             // each peer's failover state (failed over by design is not drift)
	Problem   string          `json:"problem,omitempty"` // what went wrong, in words, when known (such as the embedded device's process gone)
}

// showJSON is `show --json`.
type showJSON struct {
	Interface string          `json:"interface"`
	Up        bool            `json:"up"`                // the device exists
	Device    *deviceJSON     `json:"device"`            // null when not up
	Rules     []ruleJSON      `json:"rules"`             // the tunnel's rules (its priorities, proto 87)
	Routes    []routeJSON     `json:"routes"`            // the routes of the tunnel's table
	Names     []nameJSON      `json:"names"`             // the peers' Transparent host names, resolved by show
	Peers     []peerStateJSON `json:"peers"`             // each peer of the file's failover state
	Keeper    string          `json:"keeper"`            // the process that keeps the tunnel up, "pid 1234 (run)"; "" for none
	Problem   string          `json:"problem,omitempty"` // why it is not up, when known (such as the embedded device's process gone)

	priority, table int // where its rules and routes are: for the text form
}

// showAllJSON is a bare `show --json`: every tunnel of the namespace.
type showAllJSON struct {
	Tunnels []showJSON `json:"tunnels"` // by name; [] when none is up
}

// nameJSON is one of the peers' Transparent host names.
type nameJSON struct {
	Name       string   `json:"name"`        // canonical: lower case, no trailing dot
	Addresses  []string `json:"addresses"`   // of the answer show got; routed by the running tunnel within TTL
	TTLSeconds int      `json:"ttl_seconds"` // of that answer
	NextLookup string   `json:"next_lookup"` // RFC 3339: when a running tunnel asks again at the latest; "" on error
	Error      string   `json:"error"`       // why the name did not resolve; "" when it did
}

type deviceJSON struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"` // "Linux kernel" or "userspace"
	PublicKey  string     `json:"public_key"`
	ListenPort int        `json:"listen_port"`
	FwMark     int        `json:"fwmark"`
	Peers      []peerJSON `json:"peers"`
}

type peerJSON struct {
	PublicKey       string   `json:"public_key"`
	Endpoint        string   `json:"endpoint"`         // "" when none
	AllowedIPs      []string `json:"allowed_ips"`      // the device's, Transparent prefixes included
	LatestHandshake string   `json:"latest_handshake"` // RFC 3339, "" when never
	Keepalive       int      `json:"persistent_keepalive_seconds"`
	ReceiveBytes    int64    `json:"receive_bytes"`
	TransmitBytes   int64    `json:"transmit_bytes"`
}

type ruleJSON struct {
	Priority int    `json:"priority"`
	Family   string `json:"family"` // "inet" or "inet6"
	Text     string `json:"text"`   // in the words of `ip rule`
}

type routeJSON struct {
	Destination string `json:"destination"`
	Type        string `json:"type,omitempty"`   // "unreachable" for the kill switch's routes; omitted for a route through a device
	Device      string `json:"device,omitempty"` // omitted for an unreachable route
	Table       int    `json:"table"`
	Metric      int    `json:"metric,omitempty"`
	Protocol    int    `json:"protocol"`
}

// String is the route as `ip route show table N` shows it.
func (r routeJSON) String() string {
	s := r.Destination + " dev " + r.Device
	if r.Type != "" {
		s = r.Type + " " + r.Destination
	}
	s += fmt.Sprintf(" proto %d", r.Protocol)
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	return s
}

func changesJSON(list []transparent.Change) []changeJSON {
	out := make([]changeJSON, 0, len(list))
	for _, ch := range list {
		out = append(out, changeJSON{Op: string(ch.Op), Step: ch.Step, Command: ch.Command})
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
