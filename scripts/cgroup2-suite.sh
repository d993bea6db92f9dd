#!/usr/bin/env bash
# The ns backend on pure cgroup v2, in a QEMU guest (TCG is enough), as root:
#   scripts/cgroup2-suite.sh [--timeout SECONDS] [--log FILE]
# Boots the vm backend's guest kernel (scripts/build-guest.sh) with this host's / shared
# read-only over 9p as the guest's root, tmpfs on /tmp and /run, and cgroup2 alone on
# /sys/fs/cgroup with every controller enabled; runs the built distribution
# (cli/target/capsa, or $CAPSA_DIST) on a busybox bundle there through
# scripts/lib/cgroup2-guest.sh, one boot for every case. The guest writes one line per check to
# a writable 9p share ("ok NAME" or "FAIL NAME: why") and "done" at the end.
# Exits 0 when every check passed, 1 on a failed check or a guest that never said "done",
# 2 when the host cannot run it (no QEMU, no guest image, no distribution, not root).
# QEMU is killed by its pid at the timeout (default 600 s) or on any exit: nothing is left.
set -euo pipefail

die() { echo "cgroup2-suite.sh: $*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=${here%/scripts}
dist=${CAPSA_DIST:-$repo/cli/target/capsa}
guest=${CAPSA_GUEST_DIR:-/var/lib/capsa/guest}/current
limit=600
log=
while (($#)); do
  case $1 in
    --timeout) limit=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

[[ $EUID == 0 ]] || die "needs root (QEMU writes the results share as root; the guest runs capsa as root)"
qemu=$(command -v qemu-system-x86_64) || die "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
[[ $(uname -m) == x86_64 ]] || die "the guest image is x86_64"
[[ -x $dist/bin/capsa ]] || die "no distribution at $dist (mvn -DskipTests package)"
dist=$(readlink -f -- "$dist")
[[ -f $guest/vmlinux && -f $guest/modules.cpio ]] || die "no guest image at $guest (scripts/build-guest.sh)"
busybox=$(command -v busybox) || die "no busybox (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || die "$busybox is not static (busybox-static)"
command -v cpio >/dev/null || die "no cpio"
command -v jq >/dev/null || die "no jq (the guest script reads capsa's JSON with it)"

work=$(mktemp -d /tmp/capsa-cgroup2-suite.XXXXXX)
qpid=
cleanup() {
  if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
    kill -KILL "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the guest's /init: the modules, the host's / as root, writable tmpfs, cgroup2, then the cases
mkdir -p "$work/initrd/bin" "$work/out"
cp "$busybox" "$work/initrd/bin/busybox"
cat >"$work/initrd/init" <<EOF
#!/bin/busybox sh
B=/bin/busybox
\$B mkdir -p /proc /sys /dev /host
\$B mount -t proc proc /proc
\$B mount -t sysfs sysfs /sys
\$B mount -t devtmpfs devtmpfs /dev
while read -r m; do \$B insmod "\$m" || echo "init: insmod \$m failed"; done </etc/capsa/modules
\$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 host /host || echo "init: no host share"
for d in /tmp /run /var/tmp /root; do \$B mount -t tmpfs -o mode=0755 tmpfs /host\$d; done
\$B chmod 1777 /host/tmp /host/var/tmp
\$B mount -t proc proc /host/proc
\$B mount -t sysfs sysfs /host/sys
\$B mount -t devtmpfs devtmpfs /host/dev
\$B mkdir -p /host/dev/pts /host/dev/shm /host/run/suite
\$B mount -t devpts devpts /host/dev/pts
\$B mount -t tmpfs tmpfs /host/dev/shm
\$B mount -t cgroup2 -o nsdelegate cgroup2 /host/sys/fs/cgroup
\$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /host/run/suite
# the checkout and the distribution, shared on their own: a clone under /tmp (or /root, /run)
# would be hidden by the tmpfs above
\$B mkdir -p '/host$repo' '/host$dist' 2>/dev/null
\$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 repo '/host$repo' || echo "init: no repo share"
\$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 dist '/host$dist' || echo "init: no dist share"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \\
  \$B chroot /host /bin/bash '$repo/scripts/lib/cgroup2-guest.sh' '$dist' /run/suite >/dev/console 2>&1
\$B sync
\$B umount /host/run/suite
\$B poweroff -f
EOF
chmod 755 "$work/initrd/init"
(cd "$work/initrd" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/initrd.cpio"
cat "$guest/modules.cpio" >>"$work/initrd.cpio"

# tsc_early_khz is mandatory on microvm (docs/vm.md): the host's TSC rate
tsc=$(cat /sys/devices/system/cpu/cpu0/tsc_freq_khz 2>/dev/null ||
  awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)

console=${log:-$work/console.log}
start=$SECONDS
"$qemu" -M microvm -accel tcg -nodefaults -no-user-config -nographic -no-reboot \
  -m 1536 -smp 1 -cpu max \
  -kernel "$guest/vmlinux" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 quiet cryptomgr.notests tsc_early_khz=$tsc panic=-1" \
  -chardev file,id=console,path="$console" -serial chardev:console \
  -fsdev local,id=host,path=/,security_model=passthrough,readonly=on,multidevs=remap \
  -device virtio-9p-device,fsdev=host,mount_tag=host \
  -fsdev local,id=out,path="$work/out",security_model=passthrough \
  -device virtio-9p-device,fsdev=out,mount_tag=out \
  -fsdev local,id=repo,path="$repo",security_model=passthrough,readonly=on,multidevs=remap \
  -device virtio-9p-device,fsdev=repo,mount_tag=repo \
  -fsdev local,id=dist,path="$dist",security_model=passthrough,readonly=on,multidevs=remap \
  -device virtio-9p-device,fsdev=dist,mount_tag=dist \
  </dev/null >"$work/qemu.log" 2>&1 &
qpid=$!

while kill -0 "$qpid" 2>/dev/null && ((SECONDS - start < limit)); do
  sleep 1
done
timed_out=0
if kill -0 "$qpid" 2>/dev/null; then
  timed_out=1
  kill -KILL "$qpid" 2>/dev/null || true
fi
wait "$qpid" 2>/dev/null || true
qpid=
elapsed=$((SECONDS - start))

results=$work/out/results
touch "$results"
cat "$results"
failed=$(grep -c '^FAIL' "$results" || true)
passed=$(grep -c '^ok' "$results" || true)
status=0
if ((timed_out)); then
  echo "cgroup2-suite.sh: the guest did not finish within ${limit}s; QEMU was killed" >&2
  status=1
elif ! grep -qx done "$results"; then
  echo "cgroup2-suite.sh: the guest stopped before the end of the cases" >&2
  status=1
fi
if ((failed > 0)); then
  status=1
fi
if ((status != 0)); then
  echo "--- guest console (last 60 lines) ---" >&2
  tail -n 60 "$console" >&2 || true
  echo "--- qemu ---" >&2
  cat "$work/qemu.log" >&2 || true
fi
echo "cgroup2-suite.sh: $passed passed, $failed failed, ${elapsed}s"
exit "$status"
