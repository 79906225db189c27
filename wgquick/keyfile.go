package wgquick

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxKeyFileSize is the largest private key file ReadPrivateKey accepts. A
// key is 44 characters of base64 and a newline; the limit leaves room for
// whitespace and keeps a wrong path (a log, /dev/zero) from being read.
const MaxKeyFileSize = 4096

// keyFile records the private key file of a PrivateKeyFile line or a
// recognized `wg set %i private-key FILE` hook, refusing a second source
// of the key.
func (p *parser) keyFile(line int, key, path string) {
	if src, ok := p.at["PrivateKey"]; ok {
		p.fail(line, key, fmt.Sprintf("gives the private key again (%s line %d gives it)", src.key, src.line),
			"keep one of PrivateKey, PrivateKeyFile and `PostUp = wg set %i private-key FILE`", nil)
		return
	}
	if path == "" || strings.ContainsAny(path, "\x00\n") {
		p.fail(line, key, "not a file path", "give the path of a file holding the key, such as /etc/wireguard/wg0.key", nil)
		return
	}
	p.f.PrivateKeyFile = path
	p.at["PrivateKey"] = source{line, key}
}

// recognizeKeyHook reads `PostUp = wg set %i private-key FILE` (a common
// way to keep the key out of the file): the key is read from FILE before
// up, and the hook is not run.
func (p *parser) recognizeKeyHook() {
	for _, h := range p.hooks {
		if h.done || h.kind != "PostUp" {
			continue
		}
		f := strings.Fields(h.cmd)
		if len(f) != 5 || f[0] != "wg" || f[1] != "set" || f[2] != "%i" || f[3] != "private-key" || strings.ContainsAny(f[4], "$`<>|;&()'\"\\*?~") {
			continue
		}
		h.done = true
		p.keyFile(h.line, h.kind, f[4])
		if p.f.PrivateKeyFile == f[4] {
			p.note(h.line, "%s line %d: %s -> PrivateKeyFile %s (read before up)", h.kind, h.line, h.cmd, f[4])
		}
	}
}

// ReadPrivateKey reads the private key from PrivateKeyFile into
// Config.PrivateKey; it does nothing without PrivateKeyFile. The file is
// checked as ReadFile checks a wg-quick file: a regular file (a FIFO is
// never waited on), at most MaxKeyFileSize bytes. Its errors are
// *ParseError (Key "PrivateKeyFile") and never show the file's content.
func (f *File) ReadPrivateKey() error {
	if f.PrivateKeyFile == "" {
		return nil
	}
	path := f.PrivateKeyFile
	bad := func(problem, fix string) error {
		return &ParseError{File: filepath.Base(path), Key: "PrivateKeyFile", Problem: problem, Fix: fix}
	}
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("open private key file %s: %w", clean(path), err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("stat private key file %s: %w", clean(path), err)
	}
	if !info.Mode().IsRegular() {
		return bad("is "+fileKind(info.Mode())+", not a regular file", "give the path of a file made with `wg genkey > FILE`")
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxKeyFileSize+1))
	if err != nil {
		return fmt.Errorf("read private key file %s: %w", clean(path), err)
	}
	if len(data) > MaxKeyFileSize {
		return bad(fmt.Sprintf("over %d bytes, too large for a key", MaxKeyFileSize), "give the path of a file made with `wg genkey > FILE`")
	}
	k, err := parseKey(strings.TrimSpace(string(data)))
	if err != nil {
		return bad("does not hold a WireGuard key (44 characters of base64)", "write one with `wg genkey > FILE`")
	}
	f.Config.PrivateKey = k
	return nil
}
