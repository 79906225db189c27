package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

// errNotUp is save's error when the tunnel has no device to save.
var errNotUp = errors.New("its device is not up: nothing to save")

// save is the verb save: the running device's state (peers, their
// endpoints, keepalives and AllowedIPs, the listen port) written into the
// file, as `wg-quick save` does.
func (c *command) save(tun *transparent.Tunnel, f *wgquick.File) (int, error) {
	if err := c.saveConfig(tun, f); err != nil {
		return exitError, err
	}
	fmt.Fprintf(c.stdout, "%s saved into %s\n", f.Config.Name, quoteControl(c.file))
	return exitOK, nil
}

// saveConfig writes the device into the file (wgquick's WithDevice), in
// the library's own keys (the form import prints), through a new file in
// the same directory renamed over the old one, so that a crash leaves
// the old file or the new, never half of one. A symbolic link is
// followed: the file it names is replaced. Like wg-quick's, the new file
// is readable by its owner only.
func (c *command) saveConfig(tun *transparent.Tunnel, f *wgquick.File) error {
	name := f.Config.Name
	dev, err := tun.Device()
	if err != nil {
		return fmt.Errorf("save %s: read its device: %w", name, err)
	}
	if dev == nil {
		return fmt.Errorf("save %s: %w", name, errNotUp)
	}
	path, err := filepath.EvalSymlinks(c.file)
	if err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	fmt.Fprintf(c.stderr, "[#] save %s into %s\n", name, quoteControl(path))
	saved := f.WithDevice(dev)
	if c.mtuChosen {
		saved.Config.MTU = 0
	}
	if err := writeAtomic(path, wgquick.RenderNative(saved)); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	return nil
}

// writeAtomic replaces the file at path with data, mode 0600.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".save-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", quoteControl(path), err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", quoteControl(tmp.Name()), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", quoteControl(tmp.Name()), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", quoteControl(tmp.Name()), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", quoteControl(path), err)
	}
	done = true
	return nil
}
