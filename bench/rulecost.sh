#!/usr/bin/env bash
# bench/rulecost.sh: where the super-linear cost of N policy rules comes
# from (issue 7, docs/BENCHMARKS.md "Why scattered destinations grow faster
# than N").
#
#   sudo bench/rulecost.sh [rulecost flags]    e.g. -n 1000,10000 -reps 3
#
# Builds bench/cmd/rulecost and runs it: every measurement in a fresh
# network namespace wgt-rulecost-<pid>-<hex> that it creates and deletes (never
# the initial namespace). Writes to $RULECOST_OUT (bench/results/rulecost):
# raw.csv, summary.md, machine.txt and, if perf(1) is installed and
# RULECOST_PERF is not 0, perf.txt (where the kernel spends an add, N=10000,
# with and without NLM_F_EXCL). The defaults (N = 1000 to 20000, 3
# repetitions, all variants) take about 15 minutes on a 2-core machine;
# `-n 100,1000 -reps 1` about 10 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "bench/rulecost.sh creates network namespaces: run it as root" >&2
	exit 2
fi
command -v ip >/dev/null || { echo "bench/rulecost.sh needs ip(8) (iproute2)" >&2; exit 2; }

out=${RULECOST_OUT:-bench/results/rulecost}
mkdir -p "$out"
bin=$(mktemp -d /tmp/rulecost-bin.XXXXXX)
pid=
cleanup() {
	# Only what this script started: the rulecost process by its PID, and
	# the namespaces named after it (rulecost deletes them itself, also on
	# SIGTERM; this is for a hard kill).
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [[ -n $pid ]]; then
		for ns in /var/run/netns/wgt-rulecost-"$pid"-*; do
			[[ -e $ns ]] && ip netns del "${ns##*/}" || true
		done
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: bench/rulecost.sh $*"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "uncommitted changes in bench/cmd/rulecost: $(git status --porcelain -- bench/cmd/rulecost 2>/dev/null | tr '\n' ' ')"
	echo "kernel: $(uname -r) ($(uname -v))"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2- | tr -d ' '))"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "go: $(go version)"
	echo "iproute2: $(ip -V 2>&1 | head -1)"
	echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

(cd bench && go build -o "$bin/rulecost" ./cmd/rulecost) # bench/ is a module of its own

"$bin/rulecost" -out "$out" "$@" &
pid=$!
wait "$pid"
pid=
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

if [[ ${RULECOST_PERF:-1} != 0 ]] && command -v perf >/dev/null; then
	{
		echo "# perf: where an add spends its time, N=10000, one repetition"
		echo
		echo "perf record of the rulecost process alone (user and kernel,"
		echo "cpu-clock), then perf report --no-children --sort sym; the top"
		echo "symbols. rule_exists() is inlined into fib_newrule(); it calls"
		echo "ops->compare (fib4_rule_compare) for each rule of the same action,"
		echo "table and priority."
		for v in excl noexcl; do
			echo
			echo "## $v"
			echo
			perf record -q -o "$bin/perf-$v.data" -- "$bin/rulecost" -n 10000 -reps 1 \
				-variants "$v" -out "$bin/perf-$v" >"$bin/perf-$v.log" 2>&1
			perf report -i "$bin/perf-$v.data" --no-children --sort sym --stdio 2>/dev/null |
				awk '/^ +[0-9]+\.[0-9]+%/ && n++ < 8' || true
			echo
			grep "^| $v |" "$bin/perf-$v/summary.md" || true
		done
	} >"$out/perf.txt"
	echo "load after perf: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
fi
echo "wrote $out/{raw.csv,summary.md,machine.txt}$([[ -e $out/perf.txt ]] && echo ' and perf.txt')"
