#!/usr/bin/env bash
# bench/snat.sh: measure the cost of the library's SNAT rules held three
# ways (issue 7), in throwaway network namespaces, in one command:
#
#   sudo bench/snat.sh [snatbench flags]     e.g. -n 1,10,100 -reps 5
#
#   A. iptables-restore --noflush batch on the library's chain (iptables-nft,
#      and iptables-legacy if the kernel has it), read with iptables-save;
#   B. native nftables rules through netlink (github.com/google/nftables);
#   C. native nftables, one rule and an interval set.
#
# Installs what is missing (iptables, nftables, iproute2; one apt-get
# update), builds bench/cmd/snatbench, checks that every mechanism really
# translates packets, times write/read/replace 10%/delete for N = 1 ... 10000,
# and writes to $SNATBENCH_OUT (bench/results/snat): raw.csv, summary.csv,
# table.md, verify.txt (packet checks, google/nftables quirks), nft-list.txt,
# exec-overhead.txt and machine.txt. Nothing is changed in
# the host's network namespace; the namespaces are deleted at the end, also
# on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "bench/snat.sh creates network namespaces: run it as root (sudo bench/snat.sh)" >&2
	exit 2
fi

need=()
command -v iptables-nft-restore >/dev/null || need+=(iptables)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

out=${SNATBENCH_OUT:-bench/results/snat}
mkdir -p "$out"
bin=$(mktemp -d /tmp/snatbench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT

# The benchmark uses bench/cmd/snatbench (with the library's iptables-save
# parser, internal/iptsave, and its namespaces, internal/testns), not the
# library package itself.
{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: bench/snat.sh $*"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "uncommitted changes in bench/cmd/snatbench: $(git status --porcelain -- bench/cmd/snatbench 2>/dev/null | tr '\n' ' ')"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "kernel: $(uname -r)"
	echo "go: $(go version)"
	echo "github.com/google/nftables: $(go list -m -f '{{.Version}}' github.com/google/nftables)"
	echo "iptables: $(iptables --version) (default); $(iptables-nft --version); $(iptables-legacy --version 2>/dev/null || echo no iptables-legacy)"
	echo "nft: $(nft --version)"
	echo "net.core wmem_default/wmem_max/rmem_default/rmem_max: $(cat /proc/sys/net/core/{wmem_default,wmem_max,rmem_default,rmem_max} | tr '\n' ' ')"
	echo "uptime before the run: $(uptime)"
} >"$out/machine.txt"

(cd bench && go build -o "$bin/snatbench" ./cmd/snatbench)
"$bin/snatbench" -out "$out" "$@"
echo "uptime after the run: $(uptime)" >>"$out/machine.txt"
echo "results in $out: table.md, summary.csv, raw.csv, verify.txt, nft-list.txt, exec-overhead.txt, machine.txt"
