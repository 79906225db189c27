#!/usr/bin/env bash
# bench/pktcost.sh: packets/s of the traffic that does NOT use the tunnel,
# with the tunnel down and up in each rule mode (issue 15,
# docs/BENCHMARKS.md "Every other packet").
#
#   sudo bench/pktcost.sh                 # N = 0,1000,10000,100000, both modes: about 3 minutes
#   sudo bench/pktcost.sh -hub 1000       # a hub with 1000 peers, both rule and exception modes
#   sudo bench/pktcost.sh -n 0,1000 -t 500ms -samples 1   # about 20 seconds
#
# Builds bench/cmd/pktcost and runs it: three network namespaces
# wgt-pktcost-<pid>-{s,a,o}-<hex> that it creates and deletes (never the
# initial namespace). Writes to $PKTCOST_OUT (bench/results/pktcost):
# raw.csv, summary.md and machine.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "bench/pktcost.sh creates network namespaces: run it as root" >&2
	exit 2
fi

out=${PKTCOST_OUT:-bench/results/pktcost}
mkdir -p "$out"
bin=$(mktemp -d /tmp/pktcost-bin.XXXXXX)
pid=
cleanup() {
	# Only what this script started: pktcost by its PID, and the
	# namespaces named after it (pktcost deletes them itself, also on
	# SIGTERM; this is for a hard kill).
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [[ -n $pid ]]; then
		for ns in /var/run/netns/wgt-pktcost-"$pid"-*; do
			[[ -e $ns ]] && ip netns del "${ns##*/}" || true
		done
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: bench/pktcost.sh $*"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "uncommitted changes: $(git status --porcelain -- . 2>/dev/null | tr '\n' ' ')"
	echo "kernel: $(uname -r) ($(uname -v))"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "go: $(go version)"
	echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

(cd bench && go build -o "$bin/pktcost" ./cmd/pktcost) # bench/ is a module of its own

"$bin/pktcost" -out "$out" "$@" &
pid=$!
wait "$pid"
pid=
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
