#!/usr/bin/env bash
# The vm backend against its floor, side by side in one run (docs/benchmarks.md):
#   a bare QEMU boot of the vm backend's kernel with a tiny initramfs whose /init prints "hello" on
#   the console and powers off (the floor); capsa --backend=vm run of `echo hello` from a busybox
#   bundle; capsa --backend=ns run of the same. Then the peak RSS of the QEMU process of a busybox
#   container (VmHWM of a sleeping detached container's QEMU) and of the bare boot's (GNU time).
#   sudo bench/vm.sh [-o FILE] [-w WARMUP] [-r RUNS]
# CAPSA names bin/capsa (default cli/target/capsa/bin/capsa); CAPSA_GUEST_DIR and CAPSA_QEMU as for
# capsa itself (docs/vm.md). The bare boot's QEMU argv is the backend's, read from the running
# container's /proc/PID/cmdline, minus the 9p share and the virtio-serial ports: the same machine,
# accelerator, memory, vCPUs, kernel and kernel command line. Both argvs are printed for the record.
# With 20 runs or more, the runs are split into 5 rounds that alternate the commands, pooled.
# The tables go to FILE (default bench/results/vm.md) and to stdout.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init vm 10 "$@"
[[ $(id -u) -eq 0 ]] || die "containers need root: sudo $0"
[[ -x /bin/busybox ]] || die "busybox-static not found: run sudo scripts/setup.sh"
command -v jq >/dev/null || die "jq not found: run sudo scripts/setup.sh"
[[ -x /usr/bin/time ]] || die "GNU time not found (Debian: apt-get install time)"
command -v gcc >/dev/null || die "gcc not found (Debian: apt-get install gcc libc6-dev)"
command -v cpio >/dev/null || die "cpio not found (Debian: apt-get install cpio)"
qemu=${CAPSA_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || die "$qemu not found (Debian: apt-get install qemu-system-x86)"
guest=${CAPSA_GUEST_DIR:-/var/lib/capsa/guest}
[[ -f $guest/vmlinux ]] || guest=$guest/current
[[ -f $guest/vmlinux ]] || die "no guest image in $guest: run sudo scripts/build-guest.sh (docs/vm.md)"

work=$(mktemp -d "${TMPDIR:-/tmp}/capsa-bench.XXXXXX")
cleanup() {
  local root id pid
  for root in "$work/root-vm" "$work/root-ns"; do
    for id in bench sleeper; do "$capsa" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; done
  done
  # a bare boot cut short (^C during hyperfine): only QEMUs that boot this script's initramfs
  grep -lsF -- "$work/bare.cpio" /proc/[0-9]*/cmdline | cut -d/ -f3 | while read -r pid; do
    # grep's own argv names the file too: only a QEMU process is one of ours
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$(command -v "$qemu")")" ]] || continue
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf -- "$work"
}
trap cleanup EXIT

bundle=$work/bundle
bench_bundle "$bundle" '.process.args = ["echo", "hello"]'
sleeper=$work/sleeper
bench_variant "$bundle" "$sleeper" sleep 1000

# the floor's initramfs: /init writes a line to the console and powers off, nothing else
mkdir -p "$work/initramfs/dev"
cat >"$work/init.c" <<'EOF'
#include <fcntl.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
    int fd = open("/dev/console", O_WRONLY);
    if (fd >= 0 && write(fd, "hello\n", 6) != 6) {
        return 1;
    }
    reboot(RB_POWER_OFF);
    return 1;
}
EOF
gcc -static -O2 -std=c11 -Wall -Wextra -Werror -o "$work/initramfs/init" "$work/init.c"
mknod "$work/initramfs/dev/console" c 5 1
(cd "$work/initramfs" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/bare.cpio"

vm="$capsa --root $work/root-vm --backend=vm"
ns="$capsa --root $work/root-ns --backend=ns"
# each checked once, so that a failure is not hidden by the benchmark; the first vm create of the
# root runs the accelerator probe (3 s where KVM is unusable) and caches its answer in the root
[[ $($vm run -b "$bundle" bench) == hello ]] || die "capsa --backend=vm run failed"
[[ $($ns run -b "$bundle" bench) == hello ]] || die "capsa --backend=ns run failed"
accel=$(awk '{print $2}' "$work/root-vm/.vm-accelerator")

# the backend's QEMU argv for a busybox container, and that QEMU's peak RSS once the guest is up
$vm run -d -b "$sleeper" sleeper >/dev/null || die "capsa --backend=vm run -d failed"
# the container's pid is its monitor (docs/vm.md); QEMU is the monitor's one child
mpid=$($capsa --root "$work/root-vm" state sleeper | jq -r .pid)
qpid=$(tr -s ' ' '\n' <"/proc/$mpid/task/$mpid/children" | head -1)
[[ -n $qpid ]] || die "the monitor $mpid has no QEMU child"
mapfile -d '' -t capsa_argv <"/proc/$qpid/cmdline"
sleep 1
container_hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$qpid/status")
$capsa --root "$work/root-vm" delete --force sleeper || die "capsa delete --force sleeper failed"
opt() { # opt NAME: the value after NAME in the captured argv
  local i
  for ((i = 0; i < ${#capsa_argv[@]} - 1; i++)); do
    if [[ ${capsa_argv[i]} == "$1" ]]; then echo "${capsa_argv[i + 1]}"; return; fi
  done
  die "the vm backend's QEMU argv has no $1"
}
[[ $(opt -accel) == "$accel" ]] || die "QEMU runs with -accel $(opt -accel), the probe's cache says $accel"
[[ $(opt -kernel) -ef $guest/vmlinux ]] || die "the backend boots $(opt -kernel), not $guest/vmlinux"
bare_argv=("$qemu" -M "$(opt -M)" -accel "$accel" -nodefaults -no-user-config -nographic -no-reboot
  -m "$(opt -m)" -smp "$(opt -smp)" -kernel "$guest/vmlinux" -initrd "$work/bare.cpio" -append "$(opt -append)"
  -chardev "file,id=console,path=$work/bare-console.log" -serial chardev:console)
"${bare_argv[@]}" </dev/null || die "the bare boot failed"
grep -q '^hello' "$work/bare-console.log" || die "the bare boot printed no hello: $(cat "$work/bare-console.log")"
bare_hwm=$(/usr/bin/time -f %M "${bare_argv[@]}" </dev/null 2>&1 >/dev/null | tail -1)

quote() { local a s=; for a in "$@"; do [[ $a == *' '* ]] && a="'$a'"; s+=" $a"; done; echo "${s# }"; }

mkdir -p "$(dirname "$out")"
# hyperfine runs each command's runs in one block; a change of the machine's load between the
# bare block and the capsa block would move the difference by far more than the target. So the
# runs are split into rounds of a few runs of each command, one after the other, and the times of
# all rounds are pooled (the warm-up is paid in the first round only)
rounds=$(( runs >= 20 ? 5 : 1 ))
per=$(( (runs + rounds - 1) / rounds ))
for ((r = 1; r <= rounds; r++)); do
  hyperfine -N --warmup "$(( r == 1 ? warmup : 1 ))" --runs "$per" --export-json "$work/round-$r.json" \
    -n "bare QEMU boot" "$(quote "${bare_argv[@]}")" \
    -n "capsa --backend=vm run" "$vm run -b $bundle bench" \
    -n "capsa --backend=ns run" "$ns run -b $bundle bench" >&2
done
json=$work/hyperfine.json
# the rounds' times pooled per command, with hyperfine's figures recomputed over them
jq -s '. as $all | {results: [range(0; $all[0].results | length) as $i | ($all | map(.results[$i]) |
    {command: .[0].command, times: (map(.times) | add | sort)}) | .times as $t | ($t | length) as $n | . + {
    median: (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end),
    mean: ($t | add / $n), min: $t[0], max: $t[$n - 1],
    stddev: ((($t | map(. * .) | add) / $n - ($t | add / $n) * ($t | add / $n)) | if . < 0 then 0 else sqrt end)}]}' \
  "$work"/round-*.json >"$json"

{
  echo "| command (echo hello) | median [ms] | mean ± σ [ms] | min [ms] | max [ms] |"
  echo "|:---|---:|---:|---:|---:|"
  jq -r '.results[] | "| \(.command) | \(.median * 1000 | round) | \(.mean * 1000 | round) ± \(.stddev * 1000 | round)'`
    `' | \(.min * 1000 | round) | \(.max * 1000 | round) |"' "$json"
  med() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000 | round' "$json"; }
  added=$(($(med "capsa --backend=vm run") - $(med "bare QEMU boot")))
  echo
  echo "$rounds round(s) of $per runs each, pooled."
  echo "capsa --backend=vm run minus the bare boot (medians): $added ms; target at most 300 ms:" \
    "$( ((added <= 300)) && echo met || echo "missed by $((added - 300)) ms")."
  echo "Accelerator: $accel ($(cut -d' ' -f3- "$work/root-vm/.vm-accelerator"))."
  echo
  echo "| peak RSS of QEMU [MiB] | |"
  echo "|:---|---:|"
  echo "| busybox container (VmHWM, guest up, sleeping) | $(echo "scale=1; $container_hwm / 1024" | bc) |"
  echo "| bare boot (GNU time) | $(echo "scale=1; $bare_hwm / 1024" | bc) |"
  echo
  echo "QEMU of a capsa vm container (/proc/$qpid/cmdline):"
  echo
  echo "    $(quote "${capsa_argv[@]}")"
  echo
  echo "QEMU of the bare boot:"
  echo
  echo "    $(quote "${bare_argv[@]}")"
} | tee "$out"
