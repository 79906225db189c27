#!/usr/bin/env bash
# Runs every test of the project, as root (the integration tests build
# throwaway network namespaces). Installs what a fresh machine lacks.
# Usage: sudo ./test.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root (sudo ./test.sh): the integration tests need network namespaces" >&2
	[ "${CI:-}" = true ] && exit 1
fi
# The SNAT tests run real iptables (nft and legacy variants).
if ! command -v iptables-legacy >/dev/null || ! command -v iptables-nft >/dev/null; then
	echo "test.sh: installing iptables" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
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
go test -count=1 -race "$@" ./...
