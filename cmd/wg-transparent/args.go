package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent"
)

var (
	errHelp    = errors.New("help")
	errVersion = errors.New("version")
)

// verbs are the command's verbs, in the order the usage text lists them.
var verbs = []string{"up", "down", "run", "reload", "plan", "check", "show", "render", "import", "strip", "save"}

// showAll is the argument of show that lists every tunnel, as `wg show
// all` does; no tunnel can have that name.
const showAll = "all"

// interfaceName is what wg-quick accepts as an interface name instead of
// a file: 1 to 15 of these characters.
var interfaceName = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}$`)

// parseArgs takes the verb, the file and the flags, in any order after
// the verb.
func parseArgs(args []string) (*command, error) {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	netns := fs.String("netns", "", "")
	backend := fs.String("backend", "auto", "")
	jsonOut := fs.Bool("json", false, "")
	metrics := fs.String("metrics", "", "")
	verbose := fs.Bool("v", false, "")
	showVersion := fs.Bool("version", false, "")
	foreground := fs.Bool("foreground", false, "")
	deviceProcess := fs.Bool(deviceProcessFlag, false, "") // internal: background.go
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *showVersion {
		return nil, errVersion
	}
	if len(pos) == 1 && pos[0] == "help" {
		return nil, errHelp
	}
	if len(pos) == 1 && pos[0] == "show" {
		pos = append(pos, showAll) // a bare show lists every tunnel, as `wg show` does
	}
	if len(pos) != 2 {
		return nil, errors.New("want a command and a CONFIG_FILE or INTERFACE")
	}
	c := &command{verb: pos[0], arg: pos[1], file: configPath(pos[1]), netns: *netns, json: *jsonOut, verbose: *verbose, metrics: *metrics, foreground: *foreground, deviceProcess: *deviceProcess}
	switch *backend {
	case "auto":
		c.backend = transparent.BackendAuto
	case "kernel":
		c.backend = transparent.BackendKernel
	case "userspace":
		c.backend = transparent.BackendUserspace
	default:
		return nil, fmt.Errorf("--backend %q: use auto, kernel or userspace", *backend)
	}
	if !slices.Contains(verbs, c.verb) {
		return nil, fmt.Errorf("unknown command %q", c.verb)
	}
	if (c.foreground || c.deviceProcess) && c.verb != "up" {
		return nil, fmt.Errorf("--foreground: only up takes it, not %s (run always stays in the foreground)", c.verb)
	}
	if c.json && c.verb != "plan" && c.verb != "check" && c.verb != "show" {
		return nil, fmt.Errorf("--json: only plan, check and show print JSON, not %s", c.verb)
	}
	if c.metrics != "" && c.verb != "run" {
		return nil, fmt.Errorf("--metrics: only run serves metrics, not %s", c.verb)
	}
	return c, nil
}

// configPath is the file that arg names: arg itself when it has a '/' or
// ends in ".conf", else configDir/arg.conf, as wg-quick reads an
// interface name.
func configPath(arg string) string {
	if strings.Contains(arg, "/") || strings.HasSuffix(arg, ".conf") || !interfaceName.MatchString(arg) {
		return arg
	}
	return filepath.Join(configDir, arg+".conf")
}

// version is the module version the binary was built from (`go install
// …@v1.2.3` gives v1.2.3; a build from a checkout gives "(devel)" and,
// when known, the commit), and the Go version.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (unknown version)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" && strings.HasPrefix(v, "(devel)") {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev + modified
	}
	return fmt.Sprintf("%s %s (%s)", program, v, info.GoVersion)
}
