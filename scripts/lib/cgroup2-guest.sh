#!/bin/bash
# Runs inside the guest that scripts/cgroup2-suite.sh boots (the host's / read-only, cgroup2 on
# /sys/fs/cgroup), as root: the ns backend's cgroup v2 cases, through the built distribution.
#   cgroup2-guest.sh DIST OUT
# Appends one line per check to OUT/results ("ok NAME" or "FAIL NAME: why"), then "done".
# The JVM is slow under TCG, so the cases share few capsa commands: one foreground run whose
# shell proves the limits by their effect, and one detached container for the rest.
set -u

dist=$1
out=$2
results=$out/results
cg=/sys/fs/cgroup
capsa() { "$dist/bin/capsa" --root /run/capsa "$@"; }
ok() { echo "ok $1" >>"$results"; echo "ok $1"; }
fail() { echo "FAIL $1: $2" >>"$results"; echo "FAIL $1: $2"; }
# check NAME EXPECTED ACTUAL
check() {
  if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}
# has NAME TEXT PATTERN (grep -E)
has() {
  if grep -qE -- "$3" <<<"$2"; then ok "$1"; else fail "$1" "no /$3/ in: $(tr '\n' '|' <<<"$2" | head -c 600)"; fi
}
finish() {
  echo done >>"$results"
  sync
}
trap finish EXIT

echo "guest: $(uname -r), $(nproc) cpu, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

# ---- the host: cgroup2 only, every controller enabled at the root
check host-cgroup2 cgroup2 "$(awk '$2 == "/sys/fs/cgroup" {print $3}' /proc/mounts)"
for c in $(cat $cg/cgroup.controllers); do echo "+$c" >$cg/cgroup.subtree_control; done
check subtree-control "$(cat $cg/cgroup.controllers)" "$(cat $cg/cgroup.subtree_control)"
for c in cpu memory pids io cpuset; do
  grep -qw $c $cg/cgroup.subtree_control || fail subtree-control-$c "$c is not available in this kernel"
done

# ---- the bundle: busybox, with config.json from capsa spec edited by jq
bundle=/run/bundle
mkdir -p $bundle/rootfs/bin $bundle/rootfs/tmp
cp /bin/busybox $bundle/rootfs/bin/busybox
for a in sh echo cat sleep true head dd grep kill seq; do ln -s busybox $bundle/rootfs/bin/$a; done
cd $bundle || exit 1
t0=$SECONDS
capsa spec || { fail spec "capsa spec failed"; exit 1; }
echo "guest: capsa spec took $((SECONDS - t0))s"
base=$(cat config.json)

# config NAME CGROUPSPATH RESOURCES-JSON ARGS-JSON: config.json for one container
config() {
  jq --arg path "$2" --argjson res "$3" --argjson args "$4" '
    .process.terminal = false | .process.args = $args |
    .linux.cgroupsPath = $path | .linux.resources = $res |
    .linux.devices = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438},
                      {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 438}]
  ' <<<"$base" >config.json
}

# ---- A: limits by their effect, in one foreground run
read -r -d '' inside <<'EOF'
echo "CGROUP=$(cat /proc/self/cgroup)"
echo "MEMMAX=$(cat /sys/fs/cgroup/memory.max)"
echo "PIDSMAX=$(cat /sys/fs/cgroup/pids.max)"
# pids.max 10: the shells and the sleepers fill it; the next fork fails with EAGAIN (the rootfs
# is read-only, so errors travel through pipes, not files)
echo "FORKERR=$(sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 60 & done' 2>&1 >/dev/null | head -n 1)"
kill -9 -1 2>/dev/null
sleep 1
dd if=/dev/zero of=/dev/null bs=16M count=1 2>/dev/null && echo DD16=ok
dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
echo "DD64=$?"
head -c 1 /dev/zero >/dev/null && echo ZERO=ok
echo x >/dev/kmsg && echo KMSG=ok
echo "TUN=$( (: </dev/net/tun) 2>&1)"
echo END
EOF
res_a='{"memory": {"limit": 33554432, "swap": 33554432}, "pids": {"limit": 10},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]}'
config a /capsa-suite/a "$res_a" "$(jq -n --arg s "$inside" '["sh", "-c", $s]')"
t0=$SECONDS
run_out=$(capsa run a 2>&1)
echo "guest: capsa run a took $((SECONDS - t0))s"
echo "$run_out"
has a-cgroupns "$run_out" '^CGROUP=0::/$'
has a-memory-max "$run_out" '^MEMMAX=33554432$'
has a-pids-max "$run_out" '^PIDSMAX=10$'
# which fork hits the limit first (a sleeper, or the pipeline's own head) varies from run to
# run: the effect is the kernel's EAGAIN on some fork, reported by whichever shell tried
has a-fork-eagain "$run_out" "can't fork: Resource temporarily unavailable"
has a-memory-16m-fits "$run_out" '^DD16=ok$'
has a-memory-hog-oom-killed "$run_out" '^DD64=137$'
has a-device-default-allowed "$run_out" '^ZERO=ok$'
has a-device-rule-allowed "$run_out" '^KMSG=ok$'
has a-device-denied-eperm "$run_out" "^TUN=.*/dev/net/tun.*Operation not permitted"
has a-ran-to-the-end "$run_out" '^END$'
check a-cgroup-removed absent "$([[ -e $cg/capsa-suite/a ]] && echo present || echo absent)"

# ---- B: a detached container; the host's view of its cgroup, then ps, pause, events, update, delete
res_b='{"memory": {"limit": 67108864}, "pids": {"limit": 50},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000}}'
config b /capsa-suite/b "$res_b" '["sh", "-c", "sleep 1000 & wait"]'
t0=$SECONDS
capsa run -d b </dev/null >/dev/null 2>/tmp/run-b.err || fail b-run "$(cat /tmp/run-b.err)"
echo "guest: capsa run -d b took $((SECONDS - t0))s"
b=$cg/capsa-suite/b
check b-memory-max 67108864 "$(cat $b/memory.max)"
check b-pids-max 50 "$(cat $b/pids.max)"
# runc >= 1.3.2's conversion: shares 512 -> weight 59
check b-cpu-weight 59 "$(cat $b/cpu.weight)"
check b-cpu-max "50000 100000" "$(cat $b/cpu.max)"
for i in $(seq 1 50); do [[ $(wc -l <$b/cgroup.procs) -ge 2 ]] && break; sleep 0.1; done
procs=$(sort -n $b/cgroup.procs | tr '\n' ' ')
check b-two-processes 2 "$(wc -l <$b/cgroup.procs)"
# the device program by its effect on a shell that joins the cgroup from outside
probe() { sh -c 'echo $$ >"$0/cgroup.procs" && echo x >/dev/kmsg && echo written' "$b" 2>&1; }
has b-device-default-deny "$(probe)" 'kmsg.*Operation not permitted'

ps_out=$(capsa ps --format json b 2>&1)
check b-ps-lists-the-cgroup "$procs" "$(jq -r '.[]' <<<"$ps_out" 2>/dev/null | sort -n | tr '\n' ' ')"

capsa pause b 2>/tmp/err || fail b-pause "$(cat /tmp/err)"
check b-paused-freeze 1 "$(cat $b/cgroup.freeze)"
check b-paused-frozen "frozen 1" "$(grep frozen $b/cgroup.events)"
capsa resume b 2>/tmp/err || fail b-resume "$(cat /tmp/err)"
check b-resumed-frozen "frozen 0" "$(grep frozen $b/cgroup.events)"

stats=$(capsa events --stats b 2>&1)
check b-stats-type stats "$(jq -r .type <<<"$stats" 2>/dev/null)"
check b-stats-memory-limit 67108864 "$(jq -r .data.memory.usage.limit <<<"$stats" 2>/dev/null)"
check b-stats-pids "2 50" "$(jq -r '"\(.data.pids.current) \(.data.pids.limit)"' <<<"$stats" 2>/dev/null)"
usage=$(jq -r .data.memory.usage.usage <<<"$stats" 2>/dev/null)
if [[ $usage =~ ^[0-9]+$ ]] && ((usage > 0)); then ok b-stats-memory-usage; else fail b-stats-memory-usage "$stats"; fi
cpu=$(jq -r .data.cpu.usage.total <<<"$stats" 2>/dev/null)
if [[ $cpu =~ ^[0-9]+$ ]] && ((cpu > 0)); then ok b-stats-cpu-usage; else fail b-stats-cpu-usage "$stats"; fi

capsa update --resources - b 2>/tmp/err <<'EOF' || fail b-update "$(cat /tmp/err)"
{"memory": {"limit": 100663296}, "pids": {"limit": 40},
 "devices": [{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]}
EOF
check b-update-memory-max 100663296 "$(cat $b/memory.max)"
check b-update-pids-max 40 "$(cat $b/pids.max)"
check b-update-keeps-cpu-max "50000 100000" "$(cat $b/cpu.max)"
has b-update-device-program-replaced "$(probe)" '^written$'

capsa delete -f b 2>/tmp/err || fail b-delete "$(cat /tmp/err)"
check b-cgroup-removed absent "$([[ -e $b ]] && echo present || echo absent)"
check b-no-state "" "$(ls /run/capsa 2>/dev/null | grep -v '^\.')"
rmdir $cg/capsa-suite 2>/dev/null
check nothing-left "" "$(cd $cg && ls -d */ 2>/dev/null)"
