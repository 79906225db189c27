//go:build linux

package transparent

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"testing"

	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// BenchmarkMemoryWireGuardGo is BenchmarkMemory's yardstick: a bare
// wireguard-go device, in this same test binary, holding the settings
// of BenchmarkMemory/table's config (the same 100000 allowed IPs),
// written through its UAPI as a stream, and up. The library's process
// holds that device too, so this is the floor of BenchmarkMemory/table.
// Run it in a process of its own, like BenchmarkMemory's cases.
func BenchmarkMemoryWireGuardGo(b *testing.B) {
	testns.RequireRoot(b)
	ns := testns.New(b, "mem")
	c := manyDestinations(100000, 2)
	name := "wgmeg" + randomHex(b)
	var td tun.Device
	if err := ns.Do(func() (err error) { td, err = tun.CreateTUN(name, 1420); return err }); err != nil {
		b.Fatal(err)
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	defer dev.Close()
	for b.Loop() {
		r, w := io.Pipe()
		go func() { w.CloseWithError(writeUAPISet(w, c)) }()
		if err := dev.IpcSetOperation(r); err != nil {
			b.Fatal(err)
		}
		if err := ns.Do(dev.Up); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(rssMiB(b), "MiB-RSS")
}

// writeUAPISet writes c's device settings in the UAPI's set form, a line
// at a time.
func writeUAPISet(w io.Writer, c Config) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "private_key=%s\nlisten_port=%d\nreplace_peers=true\n", hex.EncodeToString(c.PrivateKey[:]), c.ListenPort)
	for _, p := range c.Peers {
		fmt.Fprintf(bw, "public_key=%s\nreplace_allowed_ips=true\n", hex.EncodeToString(p.PublicKey[:]))
		if p.Endpoint.IsValid() {
			fmt.Fprintf(bw, "endpoint=%s\n", p.Endpoint)
		}
		for _, a := range deviceAllowedIPs(p) {
			fmt.Fprintf(bw, "allowed_ip=%s\n", a)
		}
	}
	return bw.Flush()
}
