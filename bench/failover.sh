#!/usr/bin/env bash
# bench/failover.sh: cut and heal the WireGuard path at the router of the
# article's world (namespaces), with the library's failover (Fallback
# internet and block) and with wg-quick, and measure the health check's
# CPU cost; write the results and a timeline plot.
#
#   sudo bench/failover.sh [failover flags]      e.g. -short, or -cuts 30
#
# Installs what is missing (wireguard-tools, gnuplot-nox, nftables; one apt-get
# update), builds wireguard-go at the version go.mod uses, the command
# wg-transparent and bench/cmd/failover, runs it, and writes to
# $FAILOVER_OUT (bench/results/failover): cuts.csv, timeline.csv,
# cutwin.csv, summary.md, machine.txt and timeline.png.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "bench/failover.sh creates network namespaces: run it as root (sudo bench/failover.sh)" >&2
	exit 2
fi

need=()
command -v wg-quick >/dev/null || need+=(wireguard-tools)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v nft >/dev/null || need+=(nftables) # the cuts and the router's counters
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

out=${FAILOVER_OUT:-bench/results/failover}
mkdir -p "$out"
bin=$(mktemp -d /tmp/failover-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT

wggo=$(go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)
{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: bench/failover.sh $*"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "kernel: $(uname -r), wireguard module: $([[ -e /sys/module/wireguard ]] && echo yes || echo no)"
	echo "go: $(go version)"
	echo "wireguard-go: $wggo; wg-quick: $(dpkg-query -W -f '${Version}' wireguard-tools 2>/dev/null)"
	echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

GOBIN=$bin go install "golang.zx2c4.com/wireguard@$wggo"
go build -o "$bin/wg-transparent" ./cmd/wg-transparent
(cd bench && go build -o "$bin/failover" ./cmd/failover) # bench/ is a module of its own

"$bin/failover" -command "$bin/wg-transparent" -wg-quick "$(command -v wg-quick)" -wireguard-go "$bin/wireguard" -out "$out" "$@"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

gnuplot -e "dir='$out'; png='$out/timeline.png'" bench/failover.gp
echo "wrote $out/{cuts.csv,timeline.csv,cutwin.csv,summary.md,machine.txt,timeline.png}"
