#!/usr/bin/env bash
# Runs every test of the project, as root (the integration tests build
# throwaway network namespaces), then the same suite against kernel
# WireGuard in a VM (test/vm/run.sh). Installs what a fresh machine lacks.
# Usage: sudo ./test.sh [go test flags...]
# NO_VM=1 skips the VM run for a quick local check; CI never skips it.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root (sudo ./test.sh): the integration tests need network namespaces" >&2
	[ "${CI:-}" = true ] && exit 1
fi
# The SNAT tests run real iptables (nft and legacy variants) besides nf_tables.
if ! command -v iptables-legacy >/dev/null || ! command -v iptables-nft >/dev/null; then
	echo "test.sh: installing iptables" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
fi
# The failover tests cut the WireGuard path at the router, and count plain
# packets there, with nft.
if ! command -v nft >/dev/null; then
	echo "test.sh: installing nftables (for nft)" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null
fi
# The command's test checks its systemd unit with systemd-analyze verify.
if ! command -v systemd-analyze >/dev/null; then
	echo "test.sh: installing systemd (for systemd-analyze)" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
if [ ! -c /dev/net/tun ]; then
	echo "test.sh: /dev/net/tun is missing: the embedded WireGuard device needs the tun module (modprobe tun)" >&2
	exit 1
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "test.sh: gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
# wgquick (and the config types it uses) must build off Linux, for config
# tooling on a laptop.
GOOS=darwin go build ./wgquick
GOOS=windows go build ./wgquick
# bench/ is a module of its own (its tools need root and minutes: vetted, not run).
(cd bench && go vet ./...)
go test -count=1 -race "$@" ./...
# The SNAT tests once more with iptables (iptables-nft) holding the rules
# instead of nf_tables, FirewallAuto's choice here. (The SIGKILL campaign,
# TestCrashAtRandomPoints, picks every firewall itself; its long form:
# WGTRANSPARENT_SIGKILL_N=500 go test -run 'TestCrashAtRandomPoints$' .)
WGTRANSPARENT_TEST_FIREWALL=iptables go test -count=1 -race "$@" \
	-run 'TestBothEnds|TestDrift|TestPlan$|TestConfigChangeAfterRestart|TestUpRollsBack' .

if [ "${NO_VM:-}" = 1 ] && [ "${CI:-}" != true ]; then
	echo "test.sh: NO_VM=1: skipped the kernel WireGuard run in the VM (bash test/vm/run.sh)" >&2
	exit 0
fi
bash test/vm/run.sh
