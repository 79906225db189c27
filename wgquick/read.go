package wgquick

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// MaxFileSize is the largest file ReadFile accepts: 1 MiB. A wg-quick file
// is a few hundred bytes; one with ten thousand Transparent prefixes is
// about 300 KiB. Anything larger is a wrong path (a log, a disk image), and
// the limit keeps it from exhausting memory.
const MaxFileSize = 1 << 20

// ReadFile reads the wg-quick file at path and parses it, naming the
// interface after the file (wg0.conf makes wg0), as wg-quick does.
//
// It refuses anything but a regular file (a FIFO, a device such as
// /dev/zero, a directory) without waiting on it, and a file larger than
// MaxFileSize; it reads at most MaxFileSize+1 bytes, so a file that grows
// while it is read cannot exhaust memory either. Those refusals are
// *ParseError (Key "file"), as are the file's own problems.
func ReadFile(path string) (*File, error) {
	name := filepath.Base(path)
	// O_NONBLOCK: opening a FIFO must not wait for a writer. It changes
	// nothing for a regular file.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // it names the path again, uncleaned
		}
		return nil, fmt.Errorf("open %s: %w", clean(path), err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", clean(path), err)
	}
	if !info.Mode().IsRegular() {
		return nil, &ParseError{File: name, Key: "file", Problem: "is " + fileKind(info.Mode()) + ", not a regular file",
			Fix: "give the path of a wg-quick file, such as /etc/wireguard/wg0.conf"}
	}
	if info.Size() > MaxFileSize {
		return nil, tooLarge(name, info.Size())
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", clean(path), err)
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(name, int64(len(data)))
	}
	return Parse(name, data)
}

func tooLarge(name string, size int64) error {
	return &ParseError{File: name, Key: "file", Problem: fmt.Sprintf("%d bytes or more, over the limit of %d (MaxFileSize)", size, MaxFileSize),
		Fix: "give the path of a wg-quick file; real ones are a few kilobytes"}
}

// fileKind names what a non-regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}
