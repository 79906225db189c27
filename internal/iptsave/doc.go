// Package iptsave reads and writes the text of iptables-save and
// iptables-restore: the chains and rules of a table (Parse), one rule's
// arguments (Split), and one argument quoted for iptables-restore
// (Quote). The library's iptables firewall and its tests use it.
package iptsave
