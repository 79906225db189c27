package transparent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Tunnel is one transparent WireGuard tunnel. Its methods are safe for
// concurrent use.
type Tunnel struct {
	mu       sync.Mutex
	cfg      Config // with defaults filled in
	want     Backend
	log      *slog.Logger
	ns       netNS
	lockPath string // see lock.go
	nl       *netlink.Handle
	wg       *wgctrl.Client // made on first use, inside ns
	closed   bool

	backend backend      // nil until the link is found or made
	link    netlink.Link // the tunnel's link, refreshed by every operation
	fwWant  Firewall
	fw      firewall // nil until the SNAT rules are first needed
	applied *record  // of the last successful Up; nil after Down (record.go)

	writes    int           // kernel writes made by the last Up or Down
	failWrite int           // test hook: the failWrite-th write of a run fails, unmade
	stepDelay time.Duration // test hook: a pause before each write
}

// New validates cfg and returns a Tunnel for it. It changes nothing on the
// system: Up does.
func New(cfg Config, opts ...Option) (*Tunnel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.backend > BackendUserspace {
		return nil, fmt.Errorf("%w: unknown backend %d; use BackendAuto, BackendKernel or BackendUserspace", ErrInvalidConfig, o.backend)
	}
	ns, err := openNetNS(o.netnsPath)
	if err != nil {
		return nil, err
	}
	h := ns.handle
	// Entering the namespace first gives a permission error that
	// errors.Is recognizes; netlink's own loses it.
	if err := ns.do(func() error { return nil }); err != nil {
		h.Close()
		return nil, explainPermission(fmt.Errorf("open network namespace %q: %w", o.netnsPath, err))
	}
	lockPath, err := lockPath(int(h), cfg.Name)
	if err != nil {
		h.Close()
		return nil, err
	}
	nl, err := ns.netlink()
	if err != nil {
		h.Close()
		return nil, explainPermission(fmt.Errorf("open netlink in namespace %q: %w", o.netnsPath, err))
	}
	if o.firewall > FirewallNftables {
		return nil, fmt.Errorf("%w: unknown firewall %d; use FirewallAuto, FirewallNftables, FirewallNFT or FirewallLegacy", ErrInvalidConfig, o.firewall)
	}
	return &Tunnel{
		cfg:      cfg.WithDefaults(),
		lockPath: lockPath,
		want:     o.backend,
		fwWant:   o.firewall,
		log:      o.logger.With("tunnel", cfg.Name),
		ns:       ns,
		nl:       nl,
	}, nil
}

// Up makes the kernel match the config: the WireGuard device with its
// peers, addresses and MTU, the routes in Table, and the policy rules. It
// reads what is there first and changes only what differs, so a second Up
// makes no change at all. It refuses, changing nothing, when a rule at its
// priorities or a route in its table belongs to someone else. If a change
// fails, Up undoes the ones it made and returns the error.
func (t *Tunnel) Up(ctx context.Context) error {
	end, err := t.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	c := t.cfg
	steps, err := t.plan(c)
	if err != nil {
		return explainPermission(err)
	}
	if err := t.run(ctx, "up", steps, true); err != nil {
		return explainPermission(err)
	}
	t.remember(&c)
	return nil
}

// begin starts an operation that reads or changes the kernel: it takes
// the Tunnel's mutex, then the tunnel's lock across processes (lock.go).
// end releases both.
func (t *Tunnel) begin(ctx context.Context) (end func(), err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	unlock, err := t.lock(ctx)
	if err != nil {
		t.mu.Unlock()
		return nil, err
	}
	return func() { unlock(); t.mu.Unlock() }, nil
}

// plan validates c, reads the kernel, and returns the writes that would
// make the kernel match c, in order. It changes nothing.
func (t *Tunnel) plan(c Config) ([]step, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	prev := t.previous()
	have, err := t.observe(c, prev.owner(c))
	if err != nil {
		return nil, fmt.Errorf("up %s: %w", c.Name, err)
	}
	if err := conflicts(have); err != nil {
		return nil, fmt.Errorf("up %s: %w", c.Name, err)
	}
	if err := t.checkRPFilter(c); err != nil {
		return nil, fmt.Errorf("up %s: %w", c.Name, err)
	}
	if _, err := t.chooseBackend(have.link); err != nil {
		return nil, fmt.Errorf("up %s: %w", c.Name, err)
	}
	t.link = have.link
	var dev *wgtypes.Device
	if have.link != nil {
		if dev, err = t.readDevice(c.Name); err != nil {
			return nil, fmt.Errorf("up %s: %w", c.Name, err)
		}
	}
	var fw []step
	if fams := prev.snatFamilies(c); len(fams) > 0 {
		public, err := t.publicAddresses(c)
		if err != nil {
			return nil, fmt.Errorf("up %s: %w", c.Name, err)
		}
		fwHave, err := t.observeFirewall(c.Name, fams, prev.firewallKind())
		if err != nil {
			return nil, fmt.Errorf("up %s: %w", c.Name, err)
		}
		fw = firewallSteps(t.fw, c.Name, desiredSNAT(c, public), fwHave)
	}
	return upSteps(c, desiredState(c), have, dev, fw), nil
}

// Plan returns what Up would do, one Change per object in the order Up
// works: each link, address, route, rule, device setting and firewall rule
// the config wants, as keep, add, replace or remove, with the equivalent
// ip, wg, nft or iptables command. Up applies exactly the changes that are not
// keep. Plan changes nothing.
func (t *Tunnel) Plan(ctx context.Context) ([]Change, error) {
	end, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	steps, err := t.plan(t.cfg)
	if err != nil {
		return nil, explainPermission(err)
	}
	changes := make([]Change, len(steps))
	for i, s := range steps {
		changes[i] = Change{Op: s.op(), Step: s.String(), Command: s.command(t)}
	}
	return changes, ctx.Err()
}

// Check reports drift between the config and the kernel: nil when they
// match, else a *DriftError (matching ErrDrift) listing what Up would
// change to repair it. Check changes nothing.
func (t *Tunnel) Check(ctx context.Context) error {
	plan, err := t.Plan(ctx)
	if err != nil {
		return err
	}
	var drift []Change
	for _, c := range plan {
		if c.Op != OpKeep {
			drift = append(drift, c)
		}
	}
	if len(drift) > 0 {
		return &DriftError{Name: t.cfg.Name, Changes: drift}
	}
	return nil
}

// DriftError is Check's report: the kernel differs from the config.
type DriftError struct {
	Name    string
	Changes []Change // what Up would change, in order
}

func (e *DriftError) Error() string {
	steps := make([]string, len(e.Changes))
	for i, c := range e.Changes {
		steps[i] = c.Step
	}
	return fmt.Sprintf("tunnel %s has drifted from its config; Up would: %s", e.Name, strings.Join(steps, "; "))
}

// Is reports whether target is ErrDrift.
func (e *DriftError) Is(target error) bool { return target == ErrDrift }

// SetConfig replaces the tunnel's config; the next Up applies the
// difference, removing what the previous config made and the new one does
// not want (old priorities, table, prefixes, SNAT rules). It validates cfg
// and changes nothing on the system. The Name cannot change: Down, then
// make a new Tunnel.
func (t *Tunnel) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if cfg.Name != t.cfg.Name {
		return &FieldError{Field: "Name", Problem: fmt.Sprintf("%q differs from the tunnel's %q", cfg.Name, t.cfg.Name), Fix: "keep the Name, or Down this tunnel and make a new one"}
	}
	t.cfg = cfg.WithDefaults()
	return nil
}

// Down removes what Up made: the tunnel's rules and routes (found by their
// RouteProtocol marker, so a fresh process with only the config can do it)
// and its link. What is already gone is fine; a link of the tunnel's name
// that is not a WireGuard device this tunnel may manage is left alone and
// reported.
func (t *Tunnel) Down(ctx context.Context) error {
	end, err := t.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	c := t.cfg
	prev := t.previous()
	have, err := t.observe(c, prev.owner(c))
	if err != nil {
		return fmt.Errorf("down %s: %w", c.Name, err)
	}
	t.link = have.link
	owned := false
	var linkErr error
	if have.link != nil {
		_, linkErr = t.chooseBackend(have.link)
		owned = linkErr == nil
	}
	var fw []firewallState
	if fams := prev.snatFamilies(c); len(fams) > 0 {
		if fw, err = t.observeFirewall(c.Name, fams, prev.firewallKind()); err != nil {
			return fmt.Errorf("down %s: %w", c.Name, err)
		}
	}
	err = t.run(ctx, "down", downSteps(c, have, owned, fw), false)
	if err == nil && t.backend != nil && t.link == nil {
		err = t.backend.close() // an embedded device whose link someone else removed
	}
	if err == nil && t.link == nil {
		err = removeStaleSocket(c.Name) // of an embedded device that died with its process
	}
	if linkErr != nil {
		err = errors.Join(err, fmt.Errorf("down %s: leave link alone: %w", c.Name, linkErr))
	}
	if err == nil {
		t.remember(nil)
	}
	return explainPermission(err)
}

// Close releases the tunnel's handles and stops its embedded device, if
// any, which removes that device's link. Kernel state other than an
// embedded device's link is left as it is: call Down to remove it.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	if t.backend != nil {
		errs = append(errs, t.backend.close())
	}
	if t.wg != nil {
		errs = append(errs, t.wg.Close())
	}
	t.nl.Close()
	errs = append(errs, t.ns.handle.Close())
	return errors.Join(errs...)
}

// Device returns the WireGuard device as wgctrl sees it: peers with their
// endpoints, last handshake and transfer counters. It is nil, with no
// error, when the link does not exist.
func (t *Tunnel) Device() (*wgtypes.Device, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	d, err := t.readDevice(t.cfg.Name)
	return d, explainPermission(err)
}

// DeviceDone returns a channel that is closed when the embedded device
// this Tunnel runs stops: by Down or Close, or because another process
// deleted its link. It returns nil, which never closes, when this Tunnel
// runs no embedded device (a kernel device, one run by another process,
// or none yet). A program that keeps an embedded device up can wait on
// it.
func (t *Tunnel) DeviceDone() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u, ok := t.backend.(*userspaceBackend); ok {
		return u.done()
	}
	return nil
}

// Backend reports the backend in use, or BackendAuto before the first Up
// or Down has found or made the link.
func (t *Tunnel) Backend() Backend {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.backend == nil {
		return BackendAuto
	}
	return t.backend.kind()
}

// run applies steps in order, logging each. On failure, when rollback is
// set, it undoes the steps already made, newest first.
func (t *Tunnel) run(ctx context.Context, verb string, steps []step, rollback bool) error {
	t.writes = 0
	var done []step
	var errs []error
	for _, s := range steps {
		if _, ok := s.(*keep); ok {
			continue // a plan's note, not a write
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", verb, t.cfg.Name, err))
			break
		}
		t.log.Info(s.String())
		time.Sleep(t.stepDelay)
		t.writes++
		err := errInjected
		if t.writes != t.failWrite {
			err = s.do(t)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %s: %w", verb, t.cfg.Name, s, err))
			if rollback {
				break
			}
			continue
		}
		done = append(done, s)
	}
	if len(errs) == 0 || !rollback {
		return errors.Join(errs...)
	}
	for i := len(done) - 1; i >= 0; i-- {
		t.log.Info("undo " + done[i].String())
		if err := done[i].undo(t); err != nil {
			errs = append(errs, fmt.Errorf("roll back %s: %w", done[i], err))
		}
	}
	return errors.Join(errs...)
}

// firewall returns the tunnel's firewall, chosen on first use.
func (t *Tunnel) firewall() (firewall, error) {
	if t.fw == nil {
		fw, err := newFirewall(t.ns, t.fwWant)
		if err != nil {
			return nil, err
		}
		t.fw = fw
	}
	return t.fw, nil
}

// wgClient returns the tunnel's wgctrl client, made inside the namespace so
// that its generic netlink socket talks to that namespace's kernel devices.
func (t *Tunnel) wgClient() (*wgctrl.Client, error) {
	if t.wg != nil {
		return t.wg, nil
	}
	err := t.ns.do(func() (err error) {
		t.wg, err = wgctrl.New()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open wgctrl client: %w", err)
	}
	return t.wg, nil
}

// configure applies WireGuard settings to the device through wgctrl.
func (t *Tunnel) configure(name string, cfg wgtypes.Config) error {
	wg, err := t.wgClient()
	if err != nil {
		return err
	}
	return uapiErrno(wg.ConfigureDevice(name, cfg))
}

// uapiErrno makes an embedded device's error readable: wgctrl reports it as
// "wguser: errno=-98"; this adds the errno itself ("address already in
// use"), which errors.Is can then match.
func uapiErrno(err error) error {
	if err == nil {
		return nil
	}
	_, num, found := strings.Cut(err.Error(), "errno=")
	n, convErr := strconv.Atoi(strings.TrimSpace(num))
	if !found || convErr != nil || n == 0 {
		return err
	}
	return fmt.Errorf("%w: %w", err, unix.Errno(max(n, -n)))
}
