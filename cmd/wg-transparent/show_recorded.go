package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fileless reports whether show works without a file: a bare show (every
// tunnel), or an interface name whose file does not exist, shown from
// the tunnel's record and the kernel, as `wg show wg0` needs no file.
func (c *command) fileless() bool {
	if c.arg == showAll {
		return true
	}
	if c.file == c.arg {
		return false // a path: its file must be there
	}
	_, err := os.Stat(c.file)
	return errors.Is(err, os.ErrNotExist)
}

// showRecorded is show without a file: every tunnel of the namespace
// (bare show), or the one named, from the records in the namespace's
// state directory (their priorities and table) and the kernel (device,
// rules, routes). Host names of Transparent are in the file only, so it
// shows none.
func (c *command) showRecorded(ctx context.Context) (int, error) {
	var opts []transparent.Option
	if c.netns != "" {
		opts = append(opts, transparent.WithNetNS(c.netnsPath()))
	}
	list, err := transparent.Recorded(opts...)
	if err != nil {
		return exitError, err
	}
	var shown []showJSON
	for _, r := range list {
		if c.arg != showAll && r.Name != c.arg {
			continue
		}
		s, err := c.recordedState(r)
		if err != nil {
			return exitError, err
		}
		shown = append(shown, s)
	}
	if c.arg == showAll {
		if c.json {
			return exitOK, writeJSON(c.stdout, showAllJSON{Tunnels: append([]showJSON{}, shown...)})
		}
		if len(shown) == 0 {
			fmt.Fprintln(c.stdout, "no tunnel is up in this namespace")
		}
		for i, s := range shown {
			if i > 0 {
				fmt.Fprintln(c.stdout)
			}
			c.showText(s, transparent.Config{Priority: s.priority, Table: s.table})
		}
		return exitOK, nil
	}
	if len(shown) == 0 {
		if c.json {
			return exitOK, writeJSON(c.stdout, showJSON{Interface: c.arg, Rules: []ruleJSON{}, Routes: []routeJSON{}, Names: []nameJSON{}, Peers: []peerStateJSON{}})
		}
		fmt.Fprintf(c.stdout, "interface: %s is not up: no tunnel of that name in this namespace (and no file %s)\n", c.arg, c.file)
		return exitOK, nil
	}
	if c.json {
		return exitOK, writeJSON(c.stdout, shown[0])
	}
	c.showText(shown[0], transparent.Config{Priority: shown[0].priority, Table: shown[0].table})
	return exitOK, nil
}

// recordedState reads a recorded tunnel's device, rules and routes.
func (c *command) recordedState(r transparent.RecordedTunnel) (showJSON, error) {
	s := showJSON{Interface: r.Name, Names: []nameJSON{}, Peers: []peerStateJSON{}, Keeper: r.Keeper, priority: r.Priority, table: r.Table}
	dev, err := c.deviceIn(r.Name)
	if err != nil {
		return s, err
	}
	s.Up, s.Device = dev != nil, deviceOf(dev, transparent.Config{Name: r.Name}) // the device's own keys are hidden by deviceOf
	s.Rules, s.Routes, err = c.kernelObjects(r.Priority, r.Table)
	return s, err
}

// deviceIn reads the WireGuard device name of the tunnel's namespace; nil
// when that namespace has no link of the name. The link is looked up
// first: embedded devices' UAPI sockets are shared by all namespaces, and
// another namespace's device of the same name is not this one's.
func (c *command) deviceIn(name string) (*wgtypes.Device, error) {
	var dev *wgtypes.Device
	err := c.inNetNS(func() error {
		if _, err := netlink.LinkByName(name); err != nil {
			var notFound netlink.LinkNotFoundError
			if errors.As(err, &notFound) {
				return nil
			}
			return fmt.Errorf("read link %s: %w", name, err)
		}
		wg, err := wgctrl.New()
		if err != nil {
			return fmt.Errorf("open wgctrl: %w", err)
		}
		defer wg.Close()
		dev, err = wg.Device(name)
		if errors.Is(err, os.ErrNotExist) {
			return nil // a link of the name that is not WireGuard (or a device that stopped)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("read device %s: its embedded device's process is gone (%w); `%s up` makes it again", name, err, program)
		}
		return err
	})
	return dev, err
}

// keeperOf is the process that keeps the tunnel name up, "" for none (or
// when it cannot be told).
func (c *command) keeperOf(name string) string {
	var opts []transparent.Option
	if c.netns != "" {
		opts = append(opts, transparent.WithNetNS(c.netnsPath()))
	}
	list, err := transparent.Recorded(opts...)
	if err != nil {
		return ""
	}
	for _, r := range list {
		if r.Name == name {
			return r.Keeper
		}
	}
	return ""
}
