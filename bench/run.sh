#!/usr/bin/env bash
# bench/run.sh: time this library against wg-quick (userspace wireguard-go)
# in throwaway network namespaces, in one run, and plot the results.
#
#   sudo bench/run.sh [wgbench flags]      e.g. -n 1,10,100 -reps 3
#
# Installs what is missing (wireguard-tools, gnuplot-nox, iptables; one
# apt-get update), builds wireguard-go at the version go.mod uses and
# bench/cmd/wgbench, runs it, and writes to $WGBENCH_OUT (bench/results):
# raw.csv, summary.csv, table.md, machine.txt and time_vs_n.png.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "bench/run.sh creates network namespaces: run it as root (sudo bench/run.sh)" >&2
	exit 2
fi

need=()
command -v wg-quick >/dev/null || need+=(wireguard-tools)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v iptables >/dev/null || need+=(iptables)
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

out=${WGBENCH_OUT:-bench/results}
mkdir -p "$out"
bin=$(mktemp -d /tmp/wgbench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT


wggo=$(go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)
# The commit and working tree are recorded just before the build, which
# compiles the working tree as it is.
{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: bench/run.sh $*"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "uncommitted library changes: $(git status --porcelain -- . ':!bench' ':!docs' 2>/dev/null | tr '\n' ' ')"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "kernel: $(uname -r), wireguard module: $([[ -e /sys/module/wireguard ]] && echo yes || echo no)"
	echo "go: $(go version)"
	echo "wireguard-go: $wggo; wg-quick: $(dpkg-query -W -f '${Version}' wireguard-tools 2>/dev/null)"
	echo "iptables: $(iptables --version)"
	echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

# The same wireguard-go as the library embeds; wg-quick starts it as
# WG_QUICK_USERSPACE_IMPLEMENTATION and it daemonizes by itself.
GOBIN=$bin go install "golang.zx2c4.com/wireguard@$wggo"
(cd bench && go build -o "$bin/wgbench" ./cmd/wgbench) # bench/ is a module of its own

"$bin/wgbench" -wireguard-go "$bin/wireguard" -out "$out" "$@"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

gnuplot -e "summary='$out/summary.csv'; png='$out/time_vs_n.png'" bench/plot.gp
echo "wrote $out/{raw.csv,summary.csv,table.md,machine.txt,time_vs_n.png}"
