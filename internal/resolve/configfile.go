package resolve

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// errNotRegular is wrapped by readConfigFile's error for a path that is
// not a regular file.
var errNotRegular = errors.New("not a regular file")

// readConfigFile reads a small configuration file such as resolv.conf or
// hosts. Anything but a regular file (a FIFO, a device, a directory) is
// refused without waiting on it: the file is opened with O_NONBLOCK,
// which makes opening a FIFO return at once, and checked with fstat
// before any read, so that a FIFO planted in its place cannot hang a
// lookup (and the signals that would end it) in open or read. A file
// larger than limit is refused: no real one is, and /dev/zero behind a
// symlink would never end. The error names the path.
func readConfigFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: it is %w (%s)", path, errNotRegular, info.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes, which no such file is: check it", path, limit)
	}
	return data, nil
}
