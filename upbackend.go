//go:build linux

package transparent

import (
	"fmt"
	"log/slog"
)

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
	l, err := t.k.link(t.cfg.Name)
	if err != nil {
		return 0, explainPermission(err)
	}
	b, linkErr, err := chooseBackend(t.k, slog.New(slog.DiscardHandler), t.cfg.Name, l, t.want)
	if err == nil {
		err = linkErr
	}
	if err != nil {
		return 0, explainPermission(fmt.Errorf("up %s: %w", t.cfg.Name, err))
	}
	return b, nil
}
