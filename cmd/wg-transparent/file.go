package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/wgtransparent/transparent/wgquick"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// worldBits are the permission bits of "others".
const worldBits = 0o007

// load reads the file (wgquick.ReadFile refuses non-regular and oversized
// files), warning like wg-quick when it is world accessible.
//
// A PrivateKeyFile is read (with the same checks and warning) by the
// verbs that give the key to the device or print it; the others go on
// without it when it cannot be read, so that down never fails for it.
func (c *command) load() (*wgquick.File, error) {
	f, err := wgquick.ReadFile(c.file)
	if err != nil {
		return nil, err
	}
	c.warnWorldAccessible(c.file)
	if f.PrivateKeyFile == "" || c.verb == "render" || c.verb == "import" {
		return f, nil
	}
	c.warnWorldAccessible(f.PrivateKeyFile)
	if err := f.ReadPrivateKey(); err != nil {
		if keyVerbs[c.verb] {
			return nil, err
		}
		c.logf("%s: warning: %v; %s goes on without the key", program, err, c.verb)
		f.Config.PrivateKey = standInKey
	}
	return f, nil
}

// keyVerbs need the private key itself: the others (down, show, save)
// never give it to the device. A reload may bring the tunnel up itself
// (no process keeps it), so it needs the key too.
var keyVerbs = map[string]bool{"up": true, "run": true, "reload": true, "plan": true, "check": true, "strip": true}

// standInKey is the private key of a tunnel whose PrivateKeyFile cannot be
// read, for the verbs that never use it: any valid key.
var standInKey = wgtypes.Key{1}

// warnWorldAccessible prints wg-quick's warning when both the file and its
// directory let others in (wg-quick tests the two modes together: a
// readable file in a closed directory is safe). The file holds the
// private key, or is the PrivateKeyFile.
func (c *command) warnWorldAccessible(file string) {
	path, err := filepath.EvalSymlinks(file)
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
