#!/usr/bin/env bash
# bench/soak.sh: the soak's long form (issue 23): a running tunnel
# (Watch) in the article's world (namespaces) through drift repairs of
# every kind, DNS answer changes, failovers and failbacks, reloads and
# floods of foreign route changes, sampling its goroutines, open files,
# RSS and heap; then the plot.
#
#   sudo bench/soak.sh [soak flags]     e.g. -drifts 2000 -failovers 200
#
# Defaults are the issue's counts (10000 drifts, 1000 DNS changes, 1000
# failovers, 100 reloads, 100000 route changes: about an hour on 2
# cores). Installs what is missing (gnuplot-nox, nftables), builds
# bench/cmd/soak, and writes to $SOAK_OUT (bench/results/soak):
# samples.csv, summary.md, machine.txt and soak.png. The short form runs
# in the test command as TestSoak.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "bench/soak.sh creates network namespaces: run it as root (sudo bench/soak.sh)" >&2
	exit 2
fi

need=()
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v nft >/dev/null || need+=(nftables) # the cuts at the router, the SNAT table's deletion
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

out=${SOAK_OUT:-bench/results/soak}
mkdir -p "$out"
bin=$(mktemp -d /tmp/soak-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: bench/soak.sh $*"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "kernel: $(uname -r), wireguard module: $([[ -e /sys/module/wireguard ]] && echo yes || echo no)"
	echo "go: $(go version)"
	echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

(cd bench && go build -o "$bin/soak" ./cmd/soak) # bench/ is a module of its own
status=0
"$bin/soak" -out "$out" "$@" || status=$?
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
gnuplot -e "csv='$out/samples.csv'; png='$out/soak.png'" bench/soak.gp
echo "wrote $out/{samples.csv,summary.md,machine.txt,soak.png}"
exit $status
