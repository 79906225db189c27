// Command wg-transparent brings up and down a WireGuard transparent
// tunnel described by a wg-quick file, with the library instead of
// hand-written PreUp/PostDown lines. It is used the way wg-quick(8) is:
//
//	wg-transparent [ up | down | run | reload | plan | check | show | render | import | strip | save ] [ CONFIG_FILE | INTERFACE ] [--netns NAME] [--backend auto|kernel|userspace] [--json] [--metrics ADDR]
//	wg-transparent show [--netns NAME] [--json]
//	wg-transparent --version | --help
//
// Install it with
//
//	go install github.com/wgtransparent/transparent/cmd/wg-transparent@latest
//
// CONFIG_FILE is a wg-quick file whose name is the interface name followed
// by ".conf"; a bare INTERFACE (no '/', no ".conf") means
// /etc/wireguard/INTERFACE.conf, as with wg-quick. The file may use the
// library's own keys (Priority, PeerRoute, Exception, Rules, SNAT,
// PublicAddress; Transparent and ExpectedEndpoint in [Peer]) or the
// article's style, whose ip rule/ip route/iptables hooks are recognized.
// Like wg-quick, it warns when the file is world accessible.
//
//	up      make the tunnel match the file, running PreUp before and
//	        PostUp after (with bash, %i replaced by the interface, as
//	        wg-quick does). A failing PreUp or PostUp undoes everything up
//	        made. It returns once the tunnel is up, as wg-quick's up does.
//	        An embedded WireGuard device (no kernel WireGuard) lives in a
//	        background process of its own, as wireguard-go's does: down,
//	        from any process, ends it; SIGTERM or SIGINT to it brings the
//	        tunnel down; a device whose link is deleted is made again. If
//	        that process dies (killed), show and check say so, and up
//	        makes the device again. With --foreground, up runs the
//	        embedded device itself and stays until SIGINT or SIGTERM,
//	        then brings the tunnel down (SIGHUP reloads the file; another
//	        process's down ends it). An embedded device's name is one for all network
//	        namespaces (its UAPI socket is shared): a name whose embedded
//	        device runs in another namespace is refused, naming it.
//	down    remove what up made, running PreDown and PostDown (and with
//	        SaveConfig = true saving the device into the file first, as
//	        save does); a failing hook or save is reported and down goes
//	        on (exit status 2 at the end).
//	run     up, then stay in the foreground with either backend: repair
//	        drift as it happens (the library's Watch), look up Endpoint
//	        host names again when a peer's handshake is older than 135
//	        seconds (as wireguard-tools' reresolve-dns.sh), on SIGHUP
//	        reload the file, and on SIGINT or SIGTERM bring the tunnel
//	        down and exit 0. Tells
//	        systemd (Type=notify, $NOTIFY_SOCKET) when it is up. For the
//	        unit wg-transparent@.service. One run per tunnel: a second is
//	        refused (exit 2, naming the first's pid). Another process's
//	        down ends it (exit 0, nothing re-created); a deleted device is
//	        made again; one that cannot be brings the tunnel down and
//	        exits 2.
//	reload  apply the file's current content to a tunnel that is up,
//	        only the difference, bringing nothing down: a process that
//	        keeps the tunnel (run, a foreground up) is sent SIGHUP and
//	        reload waits for its report; otherwise reload applies the
//	        file itself, without hooks. A bad file changes nothing.
//	plan    print what up would do to each object (keep, add, replace,
//	        remove) with the equivalent ip/wg/nft/iptables command; change
//	        nothing.
//	check   exit 0 when the system matches the file, 1 (printing the
//	        differences) when it has drifted.
//	show    print the live tunnel: device, peers, rules and routes, and
//	        the peers' Transparent host names, resolved now. Without an
//	        argument, every tunnel of the namespace, from their records;
//	        show INTERFACE needs no file.
//	render  print the file as a plain wg-quick file whose hooks do what the
//	        library does, for hosts that must stay on wg-quick.
//	import  print the file with the library's own keys instead of hooks.
//	strip   print the file as a plain wg(8) configuration, as wg-quick
//	        strip does.
//	save    write the running device (listen port, peers, their
//	        endpoints, keepalives and AllowedIPs) into the file, in the
//	        library's keys, as wg-quick save does.
//
// Table = auto (the default when the file names no table) lets up choose
// a free table and priority band, kept in the tunnel's record; Table =
// off is a plain tunnel without rules or routes. PrivateKeyFile, or the
// hook PostUp = wg set %i private-key FILE, gives the key from a file.
//
// up, down, run, reload, plan, check, show and save need root (or CAP_NET_ADMIN);
// render, import and strip do not. Reading a file looks nothing up: Endpoint
// host names are kept by render and import, and resolved by up, run and
// check in the tunnel's namespace with its resolver (plan tries, and says
// when it cannot); down and show never need DNS. DNS's resolvconf and
// the hooks run in the tunnel's namespace. Host names in Transparent
// (Transparent = app.example.com) are routed by their addresses: up
// resolves them, run follows their answers as their TTLs run out (an
// address that leaves an answer stays routed for 5 minutes), import keeps
// them, and render writes their addresses at render time with a comment. A file without MTU gets wg-quick's:
// the MTU of the route toward the peers' endpoints (the largest), else of
// the default route, minus 80; 1420 when none is known. DNS is applied
// with resolvconf when it is installed, as wg-quick does (and removed on
// down), else with systemd-resolved (resolvectl) when it runs and the
// tunnel is in the host's namespace; with neither, up fails and rolls
// back, as wg-quick's does.
//
// With --json, plan, check and show print one JSON object (see json.go
// for every field):
//
//	plan   {"interface", "changes": [{"op", "step", "command"}], "pending"}
//	check  {"interface", "in_sync", "changes": [{"op", "step", "command"}]}
//	show   {"interface", "up", "device": {"name", "type", "public_key",
//	       "listen_port", "fwmark", "peers": [{"public_key", "endpoint",
//	       "allowed_ips", "latest_handshake", "persistent_keepalive_seconds",
//	       "receive_bytes", "transmit_bytes"}]}, "rules": [{"priority",
//	       "family", "text"}], "routes": [{"destination", "type" (unreachable
//	       for the kill switch), "device", "table", "metric", "protocol"}],
//	       "names": [{"name", "addresses", "ttl_seconds", "next_lookup",
//	       "error"}], "peers": [{"public_key", "fallback", "state", "since",
//	       "healthy"}], "keeper", "problem"}
//
// Exit status: 0 success (check: in sync), 1 check found drift, 2 error
// (usage, not root, a bad file, a failed operation or hook).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
)

const program = "wg-transparent"

const usage = `Usage: wg-transparent [ up | down | run | reload | plan | check | show | render | import | strip | save ] [ CONFIG_FILE | INTERFACE ] [ options ]
       wg-transparent show [ options ]
       wg-transparent --version | --help

  CONFIG_FILE is a configuration file, whose filename is the interface name
  followed by ` + "`.conf'" + `. Otherwise, INTERFACE is an interface name, with
  configuration found at /etc/wireguard/INTERFACE.conf. It is a wg-quick(8)
  file, with the transparent tunnel's own keys or the article's hooks.

  up      make the tunnel match the file (runs PreUp/PostUp); an embedded
          WireGuard device runs in a background process of its own
  down    remove what up made (runs PreDown/PostDown)
  run     up, then stay in the foreground: repair drift, re-resolve Endpoint
          names, notify systemd; SIGHUP reloads the file, SIGTERM or SIGINT
          brings it down
  reload  apply the changed file without interruption (signals run)
  plan    print what up would change
  check   exit 0 in sync, 1 on drift
  show    print the live tunnel; without INTERFACE, every tunnel
  render  print the file as a plain wg-quick file
  import  print the file with the library's keys
  strip   print the file as a plain wg(8) configuration, as wg-quick strip
  save    write the running device (peers, endpoints) into the file, as
          wg-quick save; SaveConfig = true saves on down

  Options:
  --netns NAME       a network namespace: a name under /run/netns, or a path
  --backend KIND     WireGuard implementation: auto (default), kernel, userspace
  --json             plan, check and show print JSON
  --foreground       up runs an embedded device in this process, and stays
  --metrics ADDR     run serves Prometheus metrics on http://ADDR/metrics
                     (such as 127.0.0.1:9586)
  -v                 log the embedded device's messages

  Exit status: 0 success, 1 drift (check), 2 error.
  See wg-transparent(8), and the README of
  github.com/wgtransparent/transparent.`

// Exit statuses.
const (
	exitOK    = 0
	exitDrift = 1
	exitError = 2
)

// configDir is where a bare interface name's file lives, as for wg-quick.
// Tests change it.
var configDir = "/etc/wireguard"

func main() {
	survivePipes()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one invocation: what to do, to which file, where.
type command struct {
	verb string
	arg  string             // the CONFIG_FILE or INTERFACE as given; "" for a bare show
	file string             // the path of the file
	cfg  transparent.Config // the library's config of the file: the one in force after a reload
	// mtuChosen is set when the file has no MTU and the command chose
	// one (defaultMTU): save writes none back, as wg-quick's does.
	mtuChosen bool
	netns     string // a name under /run/netns, or a path
	backend   transparent.Backend
	json      bool
	verbose   bool
	metrics   string // run's --metrics ADDR: serve Prometheus metrics there
	// foreground keeps up in the foreground with an embedded device
	// (--foreground); deviceProcess makes this process the background
	// process that up starts to run one (background.go).
	foreground    bool
	deviceProcess bool
	stdout        io.Writer
	stderr        io.Writer
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprintln(stdout, usage)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, version())
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n\n%s\n", program, err, usage)
		return exitError
	}
	c.stdout, c.stderr = stdout, stderr
	status, err := c.run()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", program, commandText(err))
	}
	return status
}

// kernelVerbs are the verbs that read or change the kernel's networking.
var kernelVerbs = map[string]bool{"up": true, "down": true, "run": true, "reload": true, "plan": true, "check": true, "show": true, "save": true}

func (c *command) run() (int, error) {
	if kernelVerbs[c.verb] && !privileged() {
		return exitError, errors.New("must be run as root (or with CAP_NET_ADMIN)")
	}
	ctx := context.Background()
	if c.verb == "show" && c.fileless() {
		return c.showRecorded(ctx)
	}
	stderr := c.stderr
	if c.deviceProcess {
		c.stderr = io.Discard // up printed the file's warnings and notes already
	}
	f, err := c.load()
	if err != nil {
		return exitError, err
	}
	switch c.verb {
	case "render":
		// Plain wg-quick cannot follow a name: render writes its
		// addresses of now (and says so in a comment).
		if err := f.ResolveNames(ctx); err != nil {
			c.logf("%s: warning: %v; written as a comment only", program, err)
		}
		if _, err := f.Resolve(ctx, c.lookupEndpoint); err != nil {
			c.logf("%s: warning: %v; its exception rule is written as a comment only", program, err)
		}
		c.stdout.Write(wgquick.Render(f))
		return exitOK, nil
	case "import":
		c.notes(f)
		c.stdout.Write(wgquick.RenderNative(f))
		return exitOK, nil
	case "strip":
		c.stdout.Write(wgquick.Strip(f))
		return exitOK, nil
	}
	if !c.json && noteVerbs[c.verb] {
		c.notes(f)
	}
	cfg, err := c.tunnelConfig(ctx, f)
	if err != nil {
		return exitError, err
	}
	if err := c.defaultMTU(f, &cfg); err != nil {
		return exitError, err
	}
	c.stderr = stderr
	c.cfg = cfg
	opts := []transparent.Option{transparent.WithBackend(c.backend), transparent.WithLogger(slog.New(&stepHandler{w: c.stderr, verbose: c.verbose}))}
	if c.netns != "" {
		opts = append(opts, transparent.WithNetNS(c.netnsPath()))
	}
	tun, err := transparent.New(cfg, opts...)
	if err != nil {
		return exitError, err
	}
	defer tun.Close()
	switch c.verb {
	case "up":
		return c.upVerb(ctx, tun, f)
	case "down":
		return c.down(ctx, tun, f)
	case "run":
		return c.runForeground(ctx, tun, f)
	case "reload":
		return c.reloadVerb(ctx, tun, f)
	case "plan":
		return c.plan(ctx, tun, f)
	case "check":
		return c.check(ctx, tun, f)
	case "show":
		return c.show(ctx, tun, f)
	case "save":
		return c.save(tun, f)
	}
	return exitError, fmt.Errorf("unknown command %q", c.verb)
}

// noteVerbs are the verbs for which the parser's notes (what it
// recognized, what up will add) apply: those that bring the file up, or
// say what up would do. down and show act on what is there; the notes
// would only repeat themselves.
var noteVerbs = map[string]bool{"up": true, "run": true, "reload": true, "plan": true, "check": true}

// notes prints what the file's parser noted, wg-quick-style on stderr.
func (c *command) notes(f *wgquick.File) {
	for _, n := range f.Notes {
		fmt.Fprintln(c.stderr, "[note]", n)
	}
}

func (c *command) netnsPath() string {
	if strings.Contains(c.netns, "/") {
		return c.netns
	}
	return filepath.Join("/run/netns", c.netns)
}
