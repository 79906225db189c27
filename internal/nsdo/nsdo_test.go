package nsdo_test

import (
	"errors"
	"testing"

	"github.com/vishvananda/netns"
	"github.com/wgtransparent/transparent/internal/nsdo"
	"github.com/wgtransparent/transparent/internal/testns"
)

func TestMain(m *testing.M) { testns.GuardMain(m) }

// TestDo: fn runs in the namespace, its error comes back as is, and a fn
// that moves its thread elsewhere does not leave the thread there.
func TestDo(t *testing.T) {
	testns.RequireRoot(t)
	a, b := testns.New(t, "nsdo-a"), testns.New(t, "nsdo-b")
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	sentinel := errors.New("fn's error")
	err = nsdo.Do(a.Handle, func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		if !cur.Equal(a.Handle) {
			t.Error("fn does not run in the namespace")
		}
		return errors.Join(sentinel, netns.Set(b.Handle)) // fn wanders off
	})
	if !errors.Is(err, sentinel) {
		t.Errorf("Do = %v, want fn's error", err)
	}
	for range 20 { // threads Do used are back where they were
		err := nsdo.Do(host, func() error {
			cur, err := netns.Get()
			if err != nil {
				return err
			}
			defer cur.Close()
			if !cur.Equal(host) {
				return errors.New("a thread was left in another namespace")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestHere: a fresh thread is in the process's namespace, not in another,
// and asking enters none.
func TestHere(t *testing.T) {
	testns.RequireRoot(t)
	other := testns.New(t, "nsdo-here")
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	for ns, want := range map[netns.NsHandle]bool{host: true, other.Handle: false} {
		if here, err := nsdo.Here(ns); here != want || err != nil {
			t.Errorf("Here(%v) = %v, %v; want %v", ns, here, err, want)
		}
	}
}
