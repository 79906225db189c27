package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/wgtransparent/transparent/wgquick"
)

// worldBits are the permission bits of "others".
const worldBits = 0o007

// load reads the file (wgquick.ReadFile refuses non-regular and oversized
// files), warning like wg-quick when it is world accessible.
func (c *command) load() (*wgquick.File, error) {
	f, err := wgquick.ReadFile(c.file)
	if err != nil {
		return nil, err
	}
	c.warnWorldAccessible()
	return f, nil
}

// warnWorldAccessible prints wg-quick's warning when both the file and its
// directory let others in (wg-quick tests the two modes together: a
// readable file in a closed directory is safe). The file holds the
// private key.
func (c *command) warnWorldAccessible() {
	path, err := filepath.EvalSymlinks(c.file)
	if err != nil {
		return
	}
	if path, err = filepath.Abs(path); err != nil {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return
	}
	if fi.Mode().Perm()&di.Mode().Perm()&worldBits != 0 {
		fmt.Fprintf(c.stderr, "Warning: `%s' is world accessible\n", quoteControl(path))
	}
}
