// Package wgquick reads and writes wg-quick configuration files
// (/etc/wireguard/wg0.conf) for the transparent tunnel.
//
// [Parse] accepts the whole wg-quick format and this library's own keys
// ([Interface] Priority, PeerRoute, Exception, Rules, SNAT, PublicAddress,
// HealthInterval, HealthFailAfter, HealthRecoverAfter; [Peer] Transparent,
// ExpectedEndpoint, Fallback). It also recognizes the hooks that the
// "WireGuard Transparent Tunnel" article writes by hand — the ip rule, ip
// route and iptables lines of its PreUp, PostUp and PostDown keys — and
// turns them into [transparent.Config] fields, so that a file written for
// wg-quick can be brought up by the library unchanged. Every other hook is
// kept, and so are DNS and SaveConfig, which the library does not apply;
// [File.Notes] says what was recognized and what was kept. Table = auto
// (the default when the file names no table, as in wg-quick) and Table =
// off become [transparent.TableAuto] and [transparent.TableOff];
// PrivateKeyFile and the hook PostUp = wg set %i private-key FILE become
// [File.PrivateKeyFile], read by [File.ReadPrivateKey]. Parse checks the
// result with [transparent.Config.Validate], and reports every problem with
// the file name, the line, the key, and the fix ([ParseError]).
//
// [ReadFile] reads a file from disk safely: it refuses anything but a
// regular file, and files over [MaxFileSize]. Errors and notes never show a
// private or preshared key, however malformed the line, and escape the
// file's control characters. Parse does no network I/O: an
// Endpoint host name is kept ([File.EndpointNames]), and [File.Resolve]
// looks it up, with the resolver the caller gives (the tunnel namespace's).
//
// The package builds on every platform Go supports (the tunnel itself
// needs Linux), so that tools can read and write these files anywhere.
//
// [Render] writes a File back as a plain wg-quick file in the article's
// style, with the library's work spelled out as wg-quick directives and
// hooks, for hosts that must stay on wg-quick. [RenderNative] writes it
// with the library's own keys instead. [Strip] writes the plain wg(8)
// configuration, as wg-quick strip does, and [File.WithDevice] puts a
// running device's state into a File, as wg-quick save does. Parse of either gives the same
// Config back; [Unrenderable] lists the rare settings that plain wg-quick
// cannot carry.
package wgquick
