#!/usr/bin/env bash
# Runs the library's tests against KERNEL WireGuard, inside a QEMU VM that
# boots Debian's stock cloud kernel (this machine's kernel has no WireGuard
# module, so backend_kernel.go cannot run here): once built for the VM
# (the vm tag, the kernel backend forced), and once as a user with kernel
# WireGuard runs the test command (no tag, nothing forced: BackendAuto must
# find kernel WireGuard), together with the command's own tests.
#
# Usage (as root):  bash test/vm/run.sh
#
# What it does:
#   1. installs qemu, busybox, kmod, cpio, xz, iptables, nftables if missing;
#   2. downloads Debian's cloud kernel once, into .cache/vm (git-ignored);
#   3. builds the test binaries statically: the root package with -tags vm
#      and without, internal/testns, cmd/wg-transparent and the
#      command itself (its tests run it);
#   4. packs an initramfs: busybox, the kernel modules the tests need,
#      iptables (nft and legacy) with its libraries, the test binaries and
#      test/vm/init as /init;
#   5. boots it with TCG (no /dev/kvm here), streams the console, and exits
#      with the status that init prints as "VMTEST-EXIT=<n>".
#
# Nothing touches the host's network: all namespaces, links, routes, rules
# and iptables rules live inside the VM. The guest has no network device.
#
# Environment knobs (all optional):
#   VMTEST_TIMEOUT   overall timeout for the VM run (default 40m)
#   VMTEST_ARGS      extra flags for the root suite with the kernel backend
#                    forced (e.g. "-test.run TestX")
#   VMTEST_STOCK_ARGS   extra flags for the root suite as a user builds it
#   VMTEST_TESTNS_ARGS  extra flags for the internal/testns suite
#   VMTEST_SMP, VMTEST_MEM   guest CPUs (default: host CPUs, max 4) and MiB (2048)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
cache=$repo/.cache/vm
start=$SECONDS
phase() { echo "== vmtest [$((SECONDS - start))s] $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: run as root (apt-get, and files in the initramfs must be root-owned)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/wgt-vmtest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# --- 1. Host tools ----------------------------------------------------------
# Check first, so that a prepared machine neither updates nor reinstalls.
apt_updated=false
apt_update_once() {
	if ! $apt_updated; then
		phase "apt-get update"
		apt-get update -qq
		apt_updated=true
	fi
}
# Debian puts modprobe/depmod in /usr/sbin; make sure they are on PATH.
export PATH=$PATH:/usr/sbin:/sbin
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v modprobe >/dev/null || missing+=(kmod)     # modprobe --show-depends, depmod
command -v cpio >/dev/null || missing+=(cpio)
command -v xz >/dev/null || missing+=(xz-utils)       # modules may be .ko.xz
{ command -v iptables-nft && command -v iptables-legacy; } >/dev/null || missing+=(iptables)
command -v nft >/dev/null || missing+=(nftables)     # the failover tests cut the path at the router with nft
if [ ${#missing[@]} -gt 0 ]; then
	apt_update_once
	phase "installing ${missing[*]}"
	# No recommends: qemu would pull in a GUI stack. The guest has no NIC,
	# so the iPXE option ROMs (a recommend) are not needed either.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. Kernel (cached) -----------------------------------------------------
# The concrete package behind linux-image-cloud-amd64 (e.g.
# linux-image-6.1.0-56-cloud-amd64), extracted with dpkg-deb into
# .cache/vm/<package>. The name resolved the first time is remembered in
# .cache/vm/kernel-package, so later runs need no apt at all. Delete
# .cache/vm to move to a newer kernel.
mkdir -p "$cache"
if [ -s "$cache/kernel-package" ] && [ -d "$cache/$(cat "$cache/kernel-package")/boot" ]; then
	kpkg=$(cat "$cache/kernel-package")
else
	# An empty package list would make apt-cache fail: update first then.
	apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || apt_update_once
	kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$kpkg" ] || { echo "run.sh: cannot resolve linux-image-cloud-amd64's kernel package" >&2; exit 1; }
	phase "downloading $kpkg"
	# apt downloads as user _apt when it can reach the directory.
	mkdir -p "$tmp/dl" && chmod 0755 "$tmp" && chown _apt "$tmp/dl" 2>/dev/null || true
	(cd "$tmp/dl" && apt-get download -q "$kpkg")
	rm -rf "$cache/$kpkg.partial"
	dpkg-deb -x "$tmp/dl"/"$kpkg"_*.deb "$cache/$kpkg.partial"
	kver=$(basename "$(ls -d "$cache/$kpkg.partial"/lib/modules/*)")
	# The package ships no modules.dep (its postinst runs depmod): make it,
	# so that modprobe -d can resolve dependencies below.
	depmod -b "$cache/$kpkg.partial" "$kver"
	mv "$cache/$kpkg.partial" "$cache/$kpkg"
	rm -rf "$tmp/dl"
	echo "$kpkg" >"$cache/kernel-package"
fi
kroot=$cache/$kpkg
kver=$(basename "$(ls -d "$kroot"/lib/modules/*)")
vmlinuz=$kroot/boot/vmlinuz-$kver
phase "kernel $kver ($kpkg)"

# --- 3. Test binaries ---------------------------------------------------------
# Static (CGO_ENABLED=0): the initramfs has no Go toolchain or libc for them.
# The vm tag adds vm_test.go (kernel-only tests); transparent-stock.test is
# the suite as anyone's `go test` builds it.
phase "building test binaries"
(cd "$repo" && CGO_ENABLED=0 go test -c -tags vm -o "$tmp/transparent.test" .)
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$tmp/transparent-stock.test" .)
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$tmp/testns.test" ./internal/testns)
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$tmp/wg-transparent.test" ./cmd/wg-transparent)
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/wg-transparent" ./cmd/wg-transparent)

# --- 4. Initramfs ---------------------------------------------------------------
phase "packing initramfs"
root=$tmp/root
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,etc,proc,sys,dev,run,tmp,modules}
# usrmerge layout, as on the host (ldd paths and alternatives resolve alike).
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
mkdir -p "$root/var" && ln -s ../run "$root/var/run" # /var/run/wireguard: UAPI sockets

# busybox and its applet links (sh, mount, insmod, ip, poweroff, ...), at
# the paths busybox wants them. The static busybox runs in a chroot of the
# new root, which is one exec instead of one `ln` per applet.
cp /bin/busybox "$root/usr/bin/busybox"
chroot "$root" /usr/bin/busybox --install -s

# Kernel modules in dependency order, from the host's kmod reading the
# extracted kernel. "builtin X" lines need nothing. Decompressed, because
# busybox insmod may not read .ko.xz. The order goes to /modules/order.
# The list: WireGuard; veth (the test world); xfrm_user (netlink.NewHandleAt
# opens an XFRM netlink socket too); tun (the embedded device,
# for TestMixedBackends); what iptables-nft and iptables-legacy need
# for nat SNAT rules with -m comment and filter rules with -i/-p tcp/--dport;
# nft_objref for the named counters the failover tests keep at the router.
modules=(wireguard veth tun xfrm_user
	nfnetlink nf_tables nft_compat nft_chain_nat nft_nat nft_ct nft_masq nft_objref
	nf_conntrack nf_nat nf_defrag_ipv4 nf_defrag_ipv6
	x_tables ip_tables ip6_tables iptable_nat ip6table_nat iptable_filter ip6table_filter
	xt_comment xt_tcpudp xt_nat xt_MASQUERADE xt_conntrack)
: >"$root/modules/order"
for m in "${modules[@]}"; do
	deps=$(modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>&1) || {
		echo "run.sh: kernel $kver has no module $m: $deps" >&2
		exit 1
	}
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue # "builtin <name>"
		name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
		[ -e "$root/modules/$name" ] && continue
		case $path in
		*.xz) xz -dc "$path" >"$root/modules/$name" ;;
		*.zst) zstd -dqc "$path" >"$root/modules/$name" ;;
		*) cp "$path" "$root/modules/$name" ;;
		esac
		echo "$name" >>"$root/modules/order"
	done <<<"$deps"
done

# iptables: every name in /usr/sbin as on the host (alternatives resolved to
# their final target, so "iptables" is the host's default variant), the
# multi-call binaries, their libraries, the dynamic loader and the xtables
# extensions (dlopen'ed, hence not in ldd's output of the binaries).
copy_with_libs() { # copy ELF files to the same path in $root, with their libraries
	local f
	for f in "$@"; do
		mkdir -p "$root/$(dirname "$f")"
		cp -L "$f" "$root/$f"
	done
	# One ldd for all files; its library lines start with a tab (the others
	# are "file:" headers). The loader is listed too, as an absolute path.
	ldd "$@" | awk '/^\t/ { for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u |
		while read -r f; do
			[ -e "$root/$f" ] && continue
			mkdir -p "$root/$(dirname "$f")"
			cp -L "$f" "$root/$f"
		done
}
copy_with_libs /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/lib/x86_64-linux-gnu/xtables/*.so
for f in /usr/sbin/ip*tables* /usr/sbin/xtables-*; do
	name=$(basename "$f")
	[ -e "$root/usr/sbin/$name" ] && continue
	target=$(readlink -f "$f")
	case $target in
	/usr/sbin/xtables-*-multi) ln -s "$(basename "$target")" "$root/usr/sbin/$name" ;;
	*) ;; # iptables-apply and friends: shell scripts the tests do not use
	esac
done
# nft: the failover tests cut the WireGuard path at the router and count
# plain packets there with nft rules.
copy_with_libs /usr/sbin/nft
# iptables resolves "tcp"/"udp" through /etc/protocols when present.
for f in /etc/protocols /etc/services /etc/ethertypes; do [ -e "$f" ] && cp "$f" "$root/etc/"; done

cp "$tmp/transparent.test" "$tmp/transparent-stock.test" "$tmp/testns.test" \
	"$tmp/wg-transparent.test" "$tmp/wg-transparent" "$root/"
install -m 0755 "$here/init" "$root/init"
echo "$kver" >"$root/etc/kver"
printf '%s\n' "${VMTEST_ARGS:-}" >"$root/etc/vmtest-args"
printf '%s\n' "${VMTEST_STOCK_ARGS:-}" >"$root/etc/vmtest-stock-args"
printf '%s\n' "${VMTEST_TESTNS_ARGS:-}" >"$root/etc/vmtest-testns-args"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$tmp/initramfs.gz"
phase "initramfs $(du -h "$tmp/initramfs.gz" | cut -f1)"

# --- 5. Boot ---------------------------------------------------------------------
# TCG: no KVM on this machine. Multi-threaded TCG uses the host's CPUs for
# the guest's. -nic none: the guest needs no network (and no iPXE ROM).
# panic=-1 and -no-reboot: if init dies, the kernel panics, "reboots", and
# QEMU exits instead of hanging. stdin from /dev/null keeps QEMU from
# putting the terminal in raw mode; Ctrl-C still stops it.
smp=${VMTEST_SMP:-$(nproc)}; [ "$smp" -gt 4 ] && smp=4
phase "booting the VM (TCG, $smp CPUs; this takes a while)"
set +e
timeout "${VMTEST_TIMEOUT:-40m}" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp "$smp" -m "${VMTEST_MEM:-2048}" \
	-nographic -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$tmp/initramfs.gz" \
	-append "console=ttyS0 panic=-1 quiet" \
	</dev/null 2>&1 |
	# SeaBIOS's serial console resets the terminal and turns off line
	# wrapping (ESC c, ESC[?7l): strip escape sequences and CRs.
	sed -u 's/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\r$//' | tee "$tmp/console.log"
qemu_status=${PIPESTATUS[0]}
set -e

status=$(sed -n 's/^VMTEST-EXIT=\([0-9]*\)$/\1/p' "$tmp/console.log" | tail -1)
phase "done (qemu exit $qemu_status)"
if [ -z "$status" ]; then
	[ "$qemu_status" -eq 124 ] && echo "run.sh: the VM timed out" >&2
	echo "run.sh: no VMTEST-EXIT marker in the console output: the VM did not finish the tests" >&2
	exit 1
fi
echo "run.sh: VM test suite exit status $status" >&2
exit "$status"
