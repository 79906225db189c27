//go:build linux

package wgdevice

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"golang.zx2c4.com/wireguard/device"
)

// deviceLog passes a wireguard-go device's log lines to the tunnel's
// logger until mute. device.Close does not wait for the device's TUN
// event goroutine, which may still log ("Failed to load updated MTU")
// after Close returned; a caller whose Down or Close has returned must
// find its logger (and the writer behind it) no longer used.
type deviceLog struct {
	mu    sync.RWMutex
	muted bool
	log   *slog.Logger
}

// logger is the wireguard-go Logger writing through l, each line with
// the device's name.
func (l *deviceLog) logger(name string) *device.Logger {
	return &device.Logger{
		Verbosef: func(f string, a ...any) { l.write(slog.LevelDebug, name, f, a) },
		Errorf:   func(f string, a ...any) { l.write(slog.LevelError, name, f, a) },
	}
}

func (l *deviceLog) write(level slog.Level, name, f string, a []any) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ctx := context.Background()
	if !l.muted && l.log.Enabled(ctx, level) {
		l.log.Log(ctx, level, fmt.Sprintf(f, a...), "name", name)
	}
}

// mute returns once no line is being written, and writes none after.
func (l *deviceLog) mute() {
	l.mu.Lock()
	l.muted = true
	l.mu.Unlock()
}
