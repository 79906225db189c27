#!/usr/bin/env bash
# bench/throughput.sh: TCP throughput through the tunnel, the library's
# embedded WireGuard device against the standalone wireguard-go binary,
# in throwaway network namespaces, in one run.
#
#   sudo bench/throughput.sh [-reps N] [-t SECONDS] [-P LIST] [-rev COMMIT] [-summarize]
#
#   -reps N     repetitions per case and stream count (default 10)
#   -t SECONDS  length of each iperf3 run (default 10)
#   -P LIST     parallel TCP streams, comma-separated (default 1,4)
#   -rev COMMIT build the library from COMMIT (git archive) instead of the
#               working tree, e.g. while someone else edits it
#   -summarize  only rewrite summary.csv and summary.md from raw.csv
#
# Installs what is missing (iperf3, wireguard-tools for wg, jq; one
# apt-get update), builds wireguard-go at the version go.mod uses and
# cmd/wg-transparent, and writes to $TPUT_OUT (bench/results/throughput):
# raw.csv (one row per run), summary.csv, summary.md, top.txt (a `top`
# snapshot in the middle of every run) and machine.txt.
#
# Every run builds a fresh world: namespaces wgt-tput-<pid>-a and -b, a veth
# (va in A 198.51.100.1/24, vb in B 203.0.113.2/24), B runs the standalone
# wireguard-go (tunnel 10.0.0.2/30) and A runs either `wg-transparent up`
# (embedded device, tunnel 10.0.0.1/30) or the standalone wireguard-go set
# up with `wg setconf` and `ip`. Then `iperf3 -c 10.0.0.2` in A against
# `iperf3 -s` in B. Each repetition runs both cases back to back, embedded
# first in odd repetitions and standalone first in even ones, so that load
# drifts cancel. Nothing is changed in the host namespace; at exit the
# processes started here are killed by PID and the namespaces deleted.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "bench/throughput.sh creates network namespaces: run it as root (sudo bench/throughput.sh)" >&2
	exit 2
fi

reps=10 secs=10 streams_list=1,4 rev= summarize_only=
while (($#)); do
	case $1 in
	-reps) reps=$2; shift 2 ;;
	-t) secs=$2; shift 2 ;;
	-P) streams_list=$2; shift 2 ;;
	-rev) rev=$2; shift 2 ;;
	-summarize) summarize_only=1; shift ;;
	*) echo "usage: bench/throughput.sh [-reps N] [-t SECONDS] [-P LIST] [-rev COMMIT] [-summarize]" >&2; exit 2 ;;
	esac
done
IFS=, read -ra streams_all <<<"$streams_list"

# write_summary: summary.csv and summary.md from $out/raw.csv. Per stream
# count and case: median and range of the receiver's rate and the CPU
# columns. Embedded ÷ standalone three ways: the ratio of the medians; the
# median and range of the ratios of the two runs of each repetition (back
# to back); and, since on a shared machine other people's CPU use moves the
# rate most, exp of the case coefficient of a least-squares fit
#   log(Mbit/s) = b0 + b1·(others' CPU %) + b2·(embedded ? 1 : 0)
# with ±2 standard errors. A ÷ B CPU (A's device CPU over B's in the same
# run; B is the same binary in both cases) compares the cost of A's device
# per byte independently of the load.
write_summary() {
	awk -F, 'NR > 1 {
		k = $4 SUBSEP $3
		n[k]++; i = n[k]
		v[k, i] = $11; rt[k, i] = $13; c[k, i] = $14; s[k, i] = $15; a[k, i] = $16; b[k, i] = $17
		ab[k, i] = $17 > 0 ? $16 / $17 : 0; busy[k, i] = $18; o[k, i] = $22; e[k, i] = $23
		pr[$4, $2, $3] = $11; reps[$4, $2] = 1; streams[$4] = 1
		# normal equations of the fit, per stream count
		x[1] = 1; x[2] = $22; x[3] = $3 == "embedded"; y = log($11)
		for (r = 1; r <= 3; r++) { xty[$4, r] += x[r] * y; for (q = 1; q <= 3; q++) xtx[$4, r, q] += x[r] * x[q] }
		yy[$4, ++ny[$4]] = y; x2[$4, ny[$4]] = x[2]; x3[$4, ny[$4]] = x[3]
	}
	function med(arr, k, cnt,   i, j, t, z) {
		for (i = 1; i <= cnt; i++) z[i] = arr[k, i]
		for (i = 2; i <= cnt; i++) { t = z[i]; for (j = i - 1; j >= 1 && z[j] > t; j--) z[j + 1] = z[j]; z[j + 1] = t }
		return cnt % 2 ? z[(cnt + 1) / 2] : (z[cnt / 2] + z[cnt / 2 + 1]) / 2
	}
	function mm(arr, k, cnt, want,   i, r) {
		r = arr[k, 1]
		for (i = 2; i <= cnt; i++) if (want == "min" ? arr[k, i] < r : arr[k, i] > r) r = arr[k, i]
		return r
	}
	function fit(p,   m, r, q, t, f, bb, rss, res, i, se, nn) { # sets adj, adjlo, adjhi
		for (r = 1; r <= 3; r++) for (q = 1; q <= 6; q++) m[r, q] = q <= 3 ? xtx[p, r, q] : (q - 3 == r)
		for (r = 1; r <= 3; r++) {
			t = m[r, r]
			if (t == 0) { adj = adjlo = adjhi = "n/a"; return }
			for (q = 1; q <= 6; q++) m[r, q] /= t
			for (i = 1; i <= 3; i++) if (i != r) { f = m[i, r]; for (q = 1; q <= 6; q++) m[i, q] -= f * m[r, q] }
		}
		for (r = 1; r <= 3; r++) { bb[r] = 0; for (q = 1; q <= 3; q++) bb[r] += m[r, q + 3] * xty[p, q] }
		nn = ny[p]; rss = 0
		for (i = 1; i <= nn; i++) { res = yy[p, i] - bb[1] - bb[2] * x2[p, i] - bb[3] * x3[p, i]; rss += res * res }
		if (nn <= 3) { adj = adjlo = adjhi = "n/a"; return } # too few runs for a fit of 3 coefficients
		se = sqrt(rss / (nn - 3) * m[3, 6])
		adj = sprintf("%.3f", exp(bb[3])); adjlo = sprintf("%.3f", exp(bb[3] - 2 * se)); adjhi = sprintf("%.3f", exp(bb[3] + 2 * se))
	}
	END {
		print "streams,case,runs,median_mbps,min_mbps,max_mbps,median_retransmits,median_client_cpu_pct,median_server_cpu_pct,median_a_dev_cpu_pct,median_b_dev_cpu_pct,median_a_over_b_cpu,median_busy_pct,median_other_cpu_pct,median_mbps_per_a_dev_core,ratio_of_medians,median_paired_ratio,min_paired_ratio,max_paired_ratio,adjusted_ratio,adjusted_ratio_lo,adjusted_ratio_hi"
		for (p in streams) {
			ke = p SUBSEP "embedded"; ks = p SUBSEP "standalone"
			if (!n[ke] || !n[ks]) continue
			ratio = sprintf("%.3f", med(v, ke, n[ke]) / med(v, ks, n[ks]))
			m = 0
			for (key in reps) {
				split(key, kk, SUBSEP)
				if (kk[1] == p && ((p, kk[2], "embedded") in pr) && ((p, kk[2], "standalone") in pr)) { m++; qr[p, m] = pr[p, kk[2], "embedded"] / pr[p, kk[2], "standalone"] }
			}
			paired = sprintf("%.3f,%.3f,%.3f", med(qr, p, m), mm(qr, p, m, "min"), mm(qr, p, m, "max"))
			fit(p)
			for (ci = 1; ci <= 2; ci++) {
				cs = ci == 1 ? "embedded" : "standalone"; k = p SUBSEP cs; cnt = n[k]
				printf "%s,%s,%d,%.0f,%.0f,%.0f,%.0f,%.1f,%.1f,%.1f,%.1f,%.3f,%.0f,%.0f,%.0f,%s,%s,%s,%s,%s\n", p, cs, cnt,
					med(v, k, cnt), mm(v, k, cnt, "min"), mm(v, k, cnt, "max"), med(rt, k, cnt),
					med(c, k, cnt), med(s, k, cnt), med(a, k, cnt), med(b, k, cnt), med(ab, k, cnt),
					med(busy, k, cnt), med(o, k, cnt), med(e, k, cnt), ratio, paired, adj, adjlo, adjhi
			}
		}
	}' "$out/raw.csv" | { read -r h; echo "$h"; sort -t, -k1,1n -k2,2; } >"$out/summary.csv"

	local secs_run ncpu_run
	secs_run=$(awk -F, 'NR == 2 {print $5}' "$out/raw.csv")
	ncpu_run=$(sed -n 's/^nproc: //p' "$out/machine.txt")
	{
		echo "# Data path: embedded device against standalone wireguard-go"
		echo
		grep -E '^(date|command|library built from|nproc|cpu|kernel|go|wireguard-go|iperf3):' "$out/machine.txt" | sed 's/^/    /'
		echo
		echo "TCP A→B through the tunnel, iperf3 ${secs_run} s per run, the receiver's rate. B runs the standalone wireguard-go in both cases."
		echo
		echo "| streams | A's device | runs | median Mbit/s | min–max Mbit/s | embedded ÷ standalone: medians | paired runs: median (range) | adjusted for others' CPU (±2 SE) |"
		echo "|---|---|---|---|---|---|---|---|"
		tail -n +2 "$out/summary.csv" | awk -F, '{
			if ($2 == "embedded") r = sprintf("**%.2f×** | %.2f× (%.2f–%.2f) | %s× (%s–%s)", $16, $17, $18, $19, $20, $21, $22)
			else r = " | | "
			printf "| %s | %s | %s | %s | %s–%s | %s |\n", $1, $2, $3, $4, $5, $6, r
		}'
		echo
		echo "CPU, medians, in % of one core over the run (the machine has $ncpu_run cores). Others: machine busy minus both devices and iperf3 (other people's work, kernel threads)."
		echo "A ÷ B: A's device CPU over B's in the same run; B is the same binary in both cases, so this compares A's cost per byte whatever the load."
		echo
		echo "| streams | A's device | A's device CPU | B's device CPU | A ÷ B | iperf3 client / server | machine busy | others | Mbit/s per core of A's device |"
		echo "|---|---|---|---|---|---|---|---|---|"
		tail -n +2 "$out/summary.csv" | awk -F, '{
			printf "| %s | %s | %.0f%% | %.0f%% | %.3f | %.0f%% / %.0f%% | %s%% | %s%% | %s |\n", $1, $2, $10, $11, $12, $8, $9, $13, $14, $15
		}'
		echo
		echo "Load average (1, 5, 15 min) before: $(sed -n 's/^load before.*load average: //p' "$out/machine.txt"); after: $(sed -n 's/^load after.*load average: //p' "$out/machine.txt"); before each run: raw.csv."
	} >"$out/summary.md"
}

out=${TPUT_OUT:-bench/results/throughput}
if [[ -n $summarize_only ]]; then
	write_summary
	cat "$out/summary.md"
	exit 0
fi

need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v wg >/dev/null || need+=(wireguard-tools)
command -v jq >/dev/null || need+=(jq)
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

mkdir -p "$out"
bin=$(mktemp -d /tmp/wgt-tput-bin.XXXXXX)

# Unique per run: namespaces, and device names (their UAPI sockets in
# /var/run/wireguard are shared by every namespace on the machine).
ns_a=wgt-tput-$$-a ns_b=wgt-tput-$$-b
if_a=tput$$a if_b=tput$$b
if_a=${if_a:0:15} if_b=${if_b:0:15}

started=() # PIDs of the processes this script started

stop_pid() { # stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL; reap, setting stop_status
	local pid=$1 i
	stop_status=
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null && stop_status=0 || stop_status=$?; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null && stop_status=0 || stop_status=$?
}

teardown() { # kill what runs in our namespaces, by PID, and delete them
	local pid ns i
	for pid in "${started[@]}"; do stop_pid "$pid"; done
	started=()
	for ns in "$ns_a" "$ns_b"; do
		[[ -e /run/netns/$ns ]] || continue
		# Only this script starts processes in its own namespaces.
		for ((i = 0; i < 50; i++)); do
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			[[ -z $pids ]] && break
			for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
			sleep 0.1
		done
		ip netns del "$ns"
	done
	# Sockets our own devices left if they were killed (names unique to us).
	rm -f "/var/run/wireguard/$if_a.sock" "/var/run/wireguard/$if_b.sock"
}

cleanup() {
	teardown
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for n in "$if_a" "$if_b"; do
	if [[ -e /var/run/wireguard/$n.sock ]]; then
		echo "/var/run/wireguard/$n.sock exists: another device uses the name $n" >&2
		exit 2
	fi
done
for ns in "$ns_a" "$ns_b"; do
	if [[ -e /run/netns/$ns ]]; then
		echo "namespace $ns exists already" >&2
		exit 2
	fi
done

# The library's source: the working tree as it is, or -rev's commit.
src=.
if [[ -n $rev ]]; then
	src=$bin/src
	mkdir "$src"
	git archive "$rev" | tar -x -C "$src"
fi
wggo=$(cd "$src" && go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)
{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: bench/throughput.sh -reps $reps -t $secs -P $streams_list${rev:+ -rev $rev}"
	if [[ -n $rev ]]; then
		echo "library built from: commit $(git rev-parse --short "$rev") (git archive; HEAD is $(git rev-parse --short HEAD))"
	else
		echo "library built from: working tree at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
		echo "uncommitted library changes: $(git status --porcelain -- . ':!bench' ':!docs' 2>/dev/null | tr '\n' ' ')"
	fi
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "kernel: $(uname -r), wireguard module: $([[ -e /sys/module/wireguard ]] && echo yes || echo no)"
	echo "go: $(go version)"
	echo "wireguard-go: $wggo (standalone binary and the library's embedded device)"
	echo "iperf3: $(iperf3 --version | head -n1)"
	echo "wg: $(wg --version)"
	echo "load before the run (uptime): $(uptime)"
} >"$out/machine.txt"

# The same wireguard-go as the library embeds, built by the same Go.
GOBIN=$bin go install "golang.zx2c4.com/wireguard@$wggo"
(cd "$src" && go build -o "$bin/wg-transparent" ./cmd/wg-transparent)
for b in wireguard wg-transparent; do
	echo "$b binary: $(go version -m "$bin/$b" | awk '$1 ~ /^(mod|dep)$/ && $2 == "golang.zx2c4.com/wireguard" {print $2 "@" $3; exit}')" >>"$out/machine.txt"
done

umask 077
wg genkey >"$bin/key_a"
wg genkey >"$bin/key_b"
pub_a=$(wg pubkey <"$bin/key_a")
pub_b=$(wg pubkey <"$bin/key_b")
umask 022

# A's file for wg-transparent: the article's Endpoint A with the library's
# keys (the peer route comes from the /30 address), MTU as in both cases.
cat >"$bin/$if_a.conf" <<EOF
[Interface]
PrivateKey = $(cat "$bin/key_a")
Address = 10.0.0.1/30
ListenPort = 51821
MTU = 1420
Table = 123
PeerRoute = prefix

[Peer]
PublicKey = $pub_b
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32
EOF
chmod 600 "$bin/$if_a.conf"
# The same device settings for the standalone A (wg setconf) ...
cat >"$bin/setconf_a" <<EOF
[Interface]
PrivateKey = $(cat "$bin/key_a")
ListenPort = 51821

[Peer]
PublicKey = $pub_b
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32, 203.0.113.2/32
EOF
# ... and for B in both cases.
cat >"$bin/setconf_b" <<EOF
[Interface]
PrivateKey = $(cat "$bin/key_b")
ListenPort = 51822

[Peer]
PublicKey = $pub_a
Endpoint = 198.51.100.1:51821
AllowedIPs = 10.0.0.1/32
EOF

wait_for() { # wait_for SECONDS CMD...: poll CMD every 0.05 s
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}

# standalone NS IF ADDR SETCONF: wireguard-go in the foreground in NS, set up
# with wg and ip; prints its PID.
standalone() {
	local ns=$1 ifname=$2 addr=$3 conf=$4
	ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 "$bin/wireguard" -f "$ifname" >>"$bin/log.$ifname" 2>&1 &
	local pid=$!
	started+=("$pid")
	wait_for 10 test -S "/var/run/wireguard/$ifname.sock" || { echo "wireguard-go $ifname did not start:" >&2; cat "$bin/log.$ifname" >&2; exit 1; }
	ip netns exec "$ns" wg setconf "$ifname" "$conf"
	ip -n "$ns" addr add "$addr" dev "$ifname"
	ip -n "$ns" link set "$ifname" mtu 1420 up
	dev_pid=$pid
}

new_world() { # new_world CASE: sets pid_a, pid_b
	local c=$1
	ip netns add "$ns_a"
	ip netns add "$ns_b"
	ip -n "$ns_a" link set lo up
	ip -n "$ns_b" link set lo up
	ip -n "$ns_a" link add va type veth peer name vb netns "$ns_b"
	ip -n "$ns_a" addr add 198.51.100.1/24 dev va
	ip -n "$ns_b" addr add 203.0.113.2/24 dev vb
	ip -n "$ns_a" link set va up
	ip -n "$ns_b" link set vb up
	ip -n "$ns_a" route add 203.0.113.0/24 dev va scope link
	ip -n "$ns_b" route add 198.51.100.0/24 dev vb scope link

	standalone "$ns_b" "$if_b" 10.0.0.2/30 "$bin/setconf_b"
	pid_b=$dev_pid
	case $c in
	embedded)
		ip netns exec "$ns_a" "$bin/wg-transparent" up "$bin/$if_a.conf" --backend userspace >"$bin/log.$if_a" 2>&1 &
		pid_a=$!
		started+=("$pid_a")
		wait_for 20 grep -q 'is up' "$bin/log.$if_a" || { echo "wg-transparent up failed:" >&2; cat "$bin/log.$if_a" >&2; exit 1; }
		;;
	standalone)
		standalone "$ns_a" "$if_a" 10.0.0.1/30 "$bin/setconf_a"
		pid_a=$dev_pid
		;;
	esac
	# Handshake before timing: a datagram into the tunnel, then wait until
	# B has seen A.
	local i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$ns_a" bash -c 'echo x >/dev/udp/10.0.0.2/9' 2>/dev/null || true
		[[ $(ip netns exec "$ns_b" wg show "$if_b" latest-handshakes | awk '{print $2}') =~ ^[1-9] ]] && break
		sleep 0.1
	done
	((i < 100)) || { echo "no handshake between A ($c) and B" >&2; exit 1; }
}

end_world() { # end_world CASE: stop A's device first (wg-transparent brings its tunnel down); sets a_exit
	stop_pid "$pid_a"
	a_exit=$stop_status
	if [[ $1 == embedded && ($a_exit != 0 || -z $(grep 'is down' "$bin/log.$if_a")) ]]; then
		echo "warning: wg-transparent exited with status $a_exit after SIGTERM:" >&2
		cat "$bin/log.$if_a" >&2
	fi
	teardown
}

proc_ticks() { # utime+stime of PID in clock ticks
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
cpu_line() { # user nice system idle iowait irq softirq steal
	awk '/^cpu / {print $2, $3, $4, $5, $6, $7, $8, $9}' /proc/stat
}

hz=$(getconf CLK_TCK)
ncpu=$(nproc)
raw=$out/raw.csv
echo "run,rep,case,streams,secs,start_utc,load1,load5,load15,procs,recv_mbps,sent_mbps,retransmits,client_cpu_pct,server_cpu_pct,a_dev_cpu_pct,b_dev_cpu_pct,busy_pct,softirq_pct,steal_pct,b_rx_bytes,other_cpu_pct,mbps_per_a_dev_core,a_exit_status" >"$raw"
: >"$out/top.txt"

one_run() { # one_run RUN REP CASE STREAMS
	local run=$1 rep=$2 c=$3 p=$4
	new_world "$c"
	ip netns exec "$ns_b" iperf3 -s -1 -B 10.0.0.2 >"$bin/iperf3-server.log" 2>&1 &
	local srv=$!
	started+=("$srv")
	wait_for 10 sh -c "ip netns exec $ns_b ss -Hltn 'sport = :5201' | grep -q ." || { echo "iperf3 -s did not listen" >&2; exit 1; }

	local load start t0 t1 ta0 ta1 tb0 tb1 s0 s1
	read -r load1 load5 load15 procs _ </proc/loadavg
	start=$(date -u +%FT%TZ)
	(sleep $((secs / 2)); echo "=== run $run rep $rep $c -P $p ($start); A's device PID $pid_a, B's $pid_b"; top -b -n2 -d1 -w 160 | awk '/^top -/ {f++} f == 2' | head -n 20) >>"$out/top.txt" &
	local topper=$!
	ta0=$(proc_ticks "$pid_a") tb0=$(proc_ticks "$pid_b") s0=$(cpu_line) t0=$(date +%s.%N)
	ip netns exec "$ns_a" iperf3 -c 10.0.0.2 -t "$secs" -P "$p" -J >"$bin/run.json" || { cat "$bin/run.json" >&2; exit 1; }
	ta1=$(proc_ticks "$pid_a") tb1=$(proc_ticks "$pid_b") s1=$(cpu_line) t1=$(date +%s.%N)
	wait "$topper" || true
	stop_pid "$srv"

	local rx
	rx=$(ip netns exec "$ns_b" wg show "$if_b" transfer | awk '{print $2}')
	local res row
	res=$(jq -r '[.end.sum_received.bits_per_second / 1e6, .end.sum_sent.bits_per_second / 1e6, .end.sum_sent.retransmits, .end.cpu_utilization_percent.host_total, .end.cpu_utilization_percent.remote_total] | map(tostring) | join(" ")' "$bin/run.json")
	read -r recv sent retr ccpu scpu <<<"$res"
	row=$(awk -v run="$run" -v rep="$rep" -v c="$c" -v p="$p" -v secs="$secs" -v start="$start" \
		-v l1="$load1" -v l5="$load5" -v l15="$load15" -v procs="$procs" \
		-v recv="$recv" -v sent="$sent" -v retr="$retr" -v ccpu="$ccpu" -v scpu="$scpu" \
		-v ta0="$ta0" -v ta1="$ta1" -v tb0="$tb0" -v tb1="$tb1" -v t0="$t0" -v t1="$t1" \
		-v s0="$s0" -v s1="$s1" -v hz="$hz" -v ncpu="$ncpu" -v rx="$rx" 'BEGIN {
		wall = t1 - t0
		split(s0, a, " "); split(s1, b, " ")
		tot = 0; for (i = 1; i <= 8; i++) { d[i] = b[i] - a[i]; tot += d[i] }
		busy = (tot - d[4] - d[5]) / tot * ncpu * 100
		acpu = (ta1 - ta0) / hz / wall * 100; bcpu = (tb1 - tb0) / hz / wall * 100
		printf "%d,%d,%s,%d,%d,%s,%s,%s,%s,%s,%.1f,%.1f,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%s,%.1f,%.0f\n",
			run, rep, c, p, secs, start, l1, l5, l15, procs, recv, sent, retr, ccpu, scpu,
			acpu, bcpu, busy, d[7] / tot * ncpu * 100, d[8] / tot * ncpu * 100, rx,
			busy - acpu - bcpu - ccpu - scpu, (acpu > 0 ? recv / acpu * 100 : 0)
	}')
	end_world "$c"
	echo "$row,$a_exit" | tee -a "$raw"
}

echo "A: $ns_a ($if_a), B: $ns_b ($if_b); $reps repetitions, ${secs} s per run, streams $streams_list"
echo "${raw#./}:"
head -n1 "$raw"
run=0
for ((rep = 1; rep <= reps; rep++)); do
	if ((rep % 2)); then order=(embedded standalone); else order=(standalone embedded); fi
	for p in "${streams_all[@]}"; do
		for c in "${order[@]}"; do
			run=$((run + 1))
			one_run "$run" "$rep" "$c" "$p"
		done
	done
done
echo "load after the run (uptime): $(uptime)" >>"$out/machine.txt"

write_summary
echo
cat "$out/summary.md"
echo "wrote $out/{raw.csv,summary.csv,summary.md,top.txt,machine.txt}"
