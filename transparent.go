//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/namespace"
	"github.com/wgtransparent/transparent/internal/state"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Tunnel is one transparent WireGuard tunnel. Its methods are safe for
// concurrent use.
//
// Every operation follows one line: read the record of the tunnel's
// layouts and the other tunnels' claims, observe the kernel, plan the
// steps (a pure function), and apply them through the kernel interface,
// rolling back on
// failure.
type Tunnel struct {
	mu       sync.Mutex
	cfg      Config // with defaults filled in
	want     Backend
	fwWant   Firewall
	log      *slog.Logger
	stateDir string // the namespace's locks and records
	k        kernel // all the Tunnel reads from and writes to its namespace
	closed   bool
	backend  Backend       // of the link the last operation found or made; BackendAuto before
	names    *nameState    // TransparentNames
	wasUp    bool          // an Up of this Tunnel succeeded, and no Down of it since
	lookups  atomic.Int64  // name lookups made (Stats)
	repairs  atomic.Int64  // Watch's Ups that wrote something (Stats)
	resyncs  atomic.Int64  // Watch's subscriptions again after lost notifications (Stats)
	fo       failoverState // the peers' health as this Tunnel's Watch judges it
	made     *made         // what the last Up made, for Watch's drift poll; nil before and after Down
	keeper   *state.Held   // the keeper lock, while this Tunnel keeps the tunnel (Keep)

	writes int // kernel writes made by the last Up or Down
}

// New validates cfg and the options and returns a Tunnel for it. It
// changes nothing on the system: Up does.
func New(cfg Config, opts ...Option) (*Tunnel, error) {
	o, names, err := prepare(cfg, opts)
	if err != nil {
		return nil, err
	}
	ns, err := namespace.Open(o.netnsPath)
	if err != nil {
		return nil, err
	}
	// Entering the namespace first gives a permission error that
	// errors.Is recognizes; netlink's own loses it.
	if err := ns.Do(func() error { return nil }); err != nil {
		ns.Handle.Close()
		return nil, namespace.ExplainPermission(fmt.Errorf("open network namespace %q: %w", o.netnsPath, err))
	}
	stateDir, err := state.DirOf(ns)
	if err != nil {
		ns.Handle.Close()
		return nil, err
	}
	log := o.logger.With("tunnel", cfg.Name)
	k, err := linuxnet.New(ns, log)
	if err != nil {
		ns.Handle.Close()
		return nil, namespace.ExplainPermission(fmt.Errorf("open netlink in namespace %q: %w", o.netnsPath, err))
	}
	return newTunnel(cfg, o, names, k, stateDir), nil
}

// prepare validates cfg and the options, and makes the state of the
// options' names.
func prepare(cfg Config, opts []Option) (options, *nameState, error) {
	if err := cfg.Validate(); err != nil {
		return options{}, nil, err
	}
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return options{}, nil, err
	}
	names, err := newNameState(o)
	if err != nil {
		return options{}, nil, err
	}
	return o, names, nil
}

// newTunnel is New's Tunnel on the kernel k, keeping its locks and
// records in stateDir; cfg and o are valid.
func newTunnel(cfg Config, o options, names *nameState, k kernel, stateDir string) *Tunnel {
	return &Tunnel{
		cfg:      cfg.WithDefaults(),
		stateDir: stateDir,
		want:     o.backend,
		fwWant:   o.firewall,
		log:      o.logger.With("tunnel", cfg.Name),
		k:        k,
		names:    names,
	}
}

// Up makes the kernel match the config: the WireGuard device with its
// peers, addresses and MTU, the routes in Table, and the policy rules. It
// reads what is there first and changes only what differs, so a second Up
// makes no change at all. It refuses, changing nothing, when a rule at its
// priorities or a route in its table belongs to someone else. If a change
// fails, Up undoes the ones it made and returns the error.
//
// With TransparentNames, Up first resolves each name that has no answer
// yet or whose answer's TTL ran out; a name that never
// resolved fails Up with ErrName before any change.
func (t *Tunnel) Up(ctx context.Context) error {
	_, err := t.up(ctx, false)
	return err
}

// up is Up, or with repair Repair: nothing is changed when the
// tunnel was brought down since this Tunnel's last Up. repaired reports
// a Repair that wrote something to a tunnel this Tunnel had brought up:
// Watch counts those as drift repairs (Stats).
func (t *Tunnel) up(ctx context.Context, repair bool) (repaired bool, err error) {
	if err := t.resolveForUp(ctx); err != nil {
		return false, err
	}
	end, err := t.begin(ctx, "up")
	if err != nil {
		return false, err
	}
	defer end()
	wasUp := t.wasUp
	if repair {
		if err := t.broughtDown(); err != nil {
			return false, err
		}
	}
	if err := t.k.RepairEmbedded(); err != nil {
		return false, fmt.Errorf("up %s: %w", t.cfg.Name, err)
	}
	c, err := t.effective(t.cfg)
	if err != nil {
		return false, fmt.Errorf("up %s: %w", t.cfg.Name, err)
	}
	rec, err := t.readRecord()
	if err != nil {
		return false, namespace.ExplainPermission(fmt.Errorf("up %s: %w", c.Name, err))
	}
	c, _, reserved, err := t.resolveLayout(ctx, c, rec, true)
	if err != nil {
		return false, namespace.ExplainPermission(fmt.Errorf("up %s: %w", c.Name, err))
	}
	applying := false
	if reserved {
		defer func() {
			if err != nil && !applying { // nothing made: give the chosen layout back
				if werr := t.writeRecord(rec); werr != nil {
					t.log.Warn("cannot restore the tunnel's record; it claims the chosen layout", "err", werr)
				}
			}
		}()
	}
	o, err := t.observeFor(c, rec, true)
	if err != nil {
		return false, namespace.ExplainPermission(fmt.Errorf("up %s: %w", c.Name, err))
	}
	steps, err := planUp(c, o)
	if err != nil {
		return false, namespace.ExplainPermission(fmt.Errorf("up %s: %w", c.Name, err))
	}
	if advice := rulesAdvice(c); advice != "" {
		t.log.Info(advice)
	}
	// Claim the new layout before the first write, together with the
	// recorded ones: an Up that dies half-way leaves a record of
	// everything it may have made.
	// That includes the nat table and chain iptables-nft may create.
	if err := t.claim(ctx, c, rec.withConfig(c, o.fw).creating(mayCreate(steps))); err != nil {
		return false, fmt.Errorf("up %s: %w", c.Name, err)
	}
	applying = true
	applyErr, undoErr := t.apply(ctx, "up", steps, true)
	if applyErr != nil {
		if undoErr == nil { // the kernel is back to what rec describes
			if err := t.writeRecord(rec); err != nil {
				t.log.Warn("cannot restore the tunnel's record; it claims the failed config's layout too", "err", err)
			}
		}
		return false, namespace.ExplainPermission(errors.Join(applyErr, undoErr))
	}
	if err := t.writeRecord((*record)(nil).withConfig(c, o.fw).withCreated(t.k.FirewallCreated()).withPeers(rec.peersFor(c))); err != nil {
		// The record written before still claims the new layout (and
		// the old ones): Down removes all of them.
		t.log.Warn("cannot shorten the tunnel's record to the new layout", "err", err)
	}
	t.wasUp = true
	if writes(steps) >= largeUp {
		// The Up's peak stays resident otherwise: the runtime keeps
		// what the heap grew to and gives it back over minutes, while a
		// tunnel of this size lives for months.
		debug.FreeOSMemory()
	}
	t.made = madeBy(c, o)
	t.made.stamp()
	return repair && wasUp && t.writes > 0, nil
}

// largeUp is the number of writes (a route each, mostly) from which Up
// returns the memory it freed to the system when it ends: at 100000
// routes the heap peaks at about three times what the process then keeps
// (docs/BENCHMARKS.md), and the collection this costs (about a quarter
// of a second there) is small beside such an Up's writes. A no-op Up,
// which must stay fast, and smaller Ups never pay it.
const largeUp = 10000

// writes counts the steps that change the kernel.
func writes(steps []step) int {
	n := 0
	for _, s := range steps {
		if _, keep := s.(*keepStep); !keep {
			n++
		}
	}
	return n
}

// begin starts an operation (verb) that reads or changes the kernel: it
// takes the Tunnel's mutex, then the tunnel's lock across processes
// (internal/state). end releases both.
func (t *Tunnel) begin(ctx context.Context, verb string) (end func(), err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	unlock, err := t.lock(ctx, verb)
	if err != nil {
		t.mu.Unlock()
		return nil, err
	}
	return func() { unlock(); t.mu.Unlock() }, nil
}

// observeFor reads the other tunnels' claims and the kernel, for Up (and
// Plan, Check) or for Down. The objects of the layouts in the tunnel's
// record rec are the tunnel's, and no others: those of c's layout too only
// when rec lists it (Up writes the record before its first write). For
// Up, a layout another tunnel claims, or an unreadable record of another
// tunnel, is refused; for Down, a recorded layout counts only when no
// other tunnel claims it, and objects with our marks at c's layout that
// are neither the tunnel's nor another's known claim are reported
// (o.unlisted). It changes nothing.
func (t *Tunnel) observeFor(c Config, rec *record, up bool) (*observed, error) {
	claims, unreadable, err := t.otherClaims()
	if err != nil {
		return nil, err
	}
	owners := rec.owners(c)
	if up {
		if unreadable != nil {
			return nil, unreadable
		}
		if err := claimConflicts(c, claims); err != nil {
			return nil, err
		}
	} else {
		if unreadable != nil {
			// Down removes only what the tunnel's own record lists,
			// which no other tunnel could claim since.
			t.log.Warn("another tunnel's record cannot be read", "err", unreadable)
		}
		owners = unclaimed(owners, claims)
	}
	o, err := observe(t.k, t.log, observation{
		cfg: c, owners: owners, backend: t.want, firewall: t.fwWant,
		snat: rec.snatFamilies(c), recordedFW: rec.firewallKinds(), created: rec.created(), forUp: up,
		failed: rec.failedPeers(c),
	})
	if err != nil {
		return nil, err
	}
	if !up && claimConflicts(c, claims) != nil {
		o.unlisted = nil // another tunnel's, by its record
	}
	if o.link != nil && o.linkErr == nil || up {
		t.backend = o.backend
	}
	return o, nil
}

// Plan returns what Up would do, one Change per object in the order Up
// works: each link, address, route, rule, device setting and firewall rule
// the config wants, as keep, add, replace or remove, with the equivalent
// ip, wg, nft or iptables command. Up applies exactly the changes that are not
// keep. Plan changes nothing.
//
// With TransparentNames, the plan starts with a keep line per name, its
// addresses and TTL ("name app.example.com: 203.0.113.2 (ttl 30s)", the
// Command a comment); a name Up would resolve is resolved, and the
// answer is not kept.
func (t *Tunnel) Plan(ctx context.Context) ([]Change, error) {
	return t.plan(ctx, false)
}

// plan is Plan, or for Check (check) the plan after every name is
// resolved again, with a replace line per name whose answer moved.
func (t *Tunnel) plan(ctx context.Context, check bool) ([]Change, error) {
	fresh, err := t.planLookups(ctx, check)
	if err != nil {
		return nil, err
	}
	end, err := t.begin(ctx, "plan")
	if err != nil {
		return nil, err
	}
	defer end()
	c, changes, err := t.planView(t.cfg, fresh, check)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", t.cfg.Name, err)
	}
	rec, err := t.readRecord()
	var o *observed
	if err == nil && c.isAuto() {
		var chosen bool
		if c, chosen, _, err = t.resolveLayout(ctx, c, rec, false); err == nil {
			changes = append([]Change{layoutChange(c, chosen)}, changes...)
		}
	}
	if err == nil {
		changes = append(changes, peerStateLines(c, rec)...)
		o, err = t.observeFor(c, rec, true)
	}
	if err == nil {
		var steps []step
		if steps, err = planUp(c, o); err == nil {
			if advice := rulesAdvice(c); advice != "" {
				t.log.Info(advice)
			}
			for _, s := range steps {
				changes = append(changes, Change{Op: s.op(), Step: s.String(), Command: s.command()})
			}
			return changes, ctx.Err()
		}
	}
	return nil, namespace.ExplainPermission(fmt.Errorf("plan %s: %w", c.Name, err))
}

// Check reports drift between the config and the kernel: nil when they
// match, else a *DriftError (matching ErrDrift) listing what Up would
// change to repair it. Check changes nothing.
//
// With TransparentNames, Check resolves every name again (keeping none
// of the answers): a name whose answer moved is drift, a replace line
// with the new and old addresses, followed by the steps that route the
// new addresses; one that left the answer stays routed for its grace
// period, as Up would keep it.
func (t *Tunnel) Check(ctx context.Context) error {
	plan, err := t.plan(ctx, true)
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

// Down removes what Up made: the tunnel's rules and routes (those with the
// RouteProtocol marker at the layouts its record lists, so a fresh process
// with only the config can do it) and its link. What is already gone is
// fine; a link of the tunnel's name that is not a WireGuard device this
// tunnel may manage, and rules or routes with the marker at the config's
// priorities or table that the record does not list (another tunnel's),
// are left alone and reported (ErrConflict).
func (t *Tunnel) Down(ctx context.Context) error {
	end, err := t.begin(ctx, "down")
	if err != nil {
		return err
	}
	defer end()
	c := t.cfg
	rec, err := t.readRecord()
	if err != nil {
		return namespace.ExplainPermission(fmt.Errorf("down %s: %w", c.Name, err))
	}
	if c, _ = recordedLayout(c, rec); c.isAuto() {
		// Never recorded, so never made: nothing of a layout to remove.
		c.Table, c.Priority = TableOff, DefaultPriority
	}
	o, err := t.observeFor(c, rec, false)
	if err != nil {
		return namespace.ExplainPermission(fmt.Errorf("down %s: %w", c.Name, err))
	}
	err, _ = t.apply(ctx, "down", planDown(c, o), false)
	if err == nil {
		err = t.k.StopEmbedded() // an embedded device whose link someone else removed
	}
	if err == nil && (o.link == nil || o.linkErr == nil) {
		err = t.k.RemoveStaleSocket(c.Name) // of an embedded device that died with its process
	}
	if o.link != nil && o.linkErr != nil {
		err = errors.Join(err, fmt.Errorf("down %s: leave link alone: %w", c.Name, o.linkErr))
	}
	if err == nil {
		err = t.writeRecord(nil)
	}
	if err == nil {
		t.wasUp, t.made = false, nil
	}
	if len(o.unlisted) > 0 {
		err = errors.Join(err, fmt.Errorf("down %s: left alone what the tunnel did not make: %s: %w", c.Name, strings.Join(o.unlisted, "; "), ErrConflict))
	}
	return namespace.ExplainPermission(err)
}

// Close releases the tunnel's handles and stops its embedded device, if
// any, which removes that device's link. Kernel state other than an
// embedded device's link is left as it is: call Down to remove it. A
// keeper lock taken with Keep stays held until its release function runs
// or the process ends; Watch ends with ErrClosed.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return t.k.Close()
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
	d, err := t.k.Device(t.cfg.Name)
	if d == nil && err == nil {
		err = t.k.DeviceGone(t.cfg.Name)
	}
	return d, namespace.ExplainPermission(err)
}

// UpBackend reports the backend an Up would use now: the one of the
// tunnel's link when it exists, else the one requested, BackendAuto
// resolved by asking the kernel whether it has WireGuard. A link Up would
// refuse (ErrConflict: not ours, of the other backend, or a name whose
// embedded device's UAPI socket another namespace holds) is returned as
// that error. A program that runs the embedded device in a process of its
// own asks this before starting one. UpBackend changes nothing.
func (t *Tunnel) UpBackend() (Backend, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, ErrClosed
	}
	l, err := t.k.Link(t.cfg.Name)
	if err != nil {
		return 0, namespace.ExplainPermission(err)
	}
	b, linkErr, err := chooseBackend(t.k, slog.New(slog.DiscardHandler), t.cfg.Name, l, t.want)
	if err == nil {
		err = linkErr
	}
	if err != nil {
		return 0, namespace.ExplainPermission(fmt.Errorf("up %s: %w", t.cfg.Name, err))
	}
	return b, nil
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
	return t.k.EmbeddedDone()
}

// Backend reports the backend in use, or BackendAuto before the first Up
// or Down has found or made the link.
func (t *Tunnel) Backend() Backend {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.backend
}
