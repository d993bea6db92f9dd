#!/usr/bin/env bash
# capsa (ns backend, through the capsa server), runc and crun side by side, in one run, on one
# busybox bundle (docs/benchmarks.md; its ociVersion is 1.0.2, the newest crun 1.8 reads):
#   run of /bin/true; create + start + delete; state of a running container; exec of true into
#   a running container; --version. Then the peak RSS of each runtime process (GNU time), for
#   run of /bin/true and for a foreground run that waits for a container that sleeps, and the
#   capsa server's RSS.
#   sudo bench/runtimes.sh [-o FILE] [-w WARMUP] [-r RUNS]
# CAPSA names bin/capsa (default cli/target/capsa/bin/capsa). The tables go to FILE (default
# bench/results/runtimes.md) and to stdout.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init runtimes 30 "$@"
[[ $(id -u) -eq 0 ]] || die "containers need root: sudo $0"
[[ -x /bin/busybox ]] || die "busybox-static not found: run sudo scripts/setup.sh"
command -v jq >/dev/null || die "jq not found: run sudo scripts/setup.sh"
[[ -x /usr/bin/time ]] || die "GNU time not found (Debian: apt-get install time)"

work=$(mktemp -d "${TMPDIR:-/tmp}/capsa-bench.XXXXXX")
runtimes=(capsa runc)
command -v crun >/dev/null && runtimes+=(crun)
declare -A cmd=([capsa]="$capsa" [runc]=runc [crun]=crun)
cleanup() {
  for rt in "${runtimes[@]}"; do
    for id in bench idle sleeper; do
      ${cmd[$rt]} --root "$work/root-$rt" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  rm -rf -- "$work"
}
trap cleanup EXIT

bundle=$work/bundle
bench_bundle "$bundle" '.ociVersion = "1.0.2" | .process.args = ["true"]'
sleeper=$work/sleeper
bench_variant "$bundle" "$sleeper" sleep 1000
nap=$work/nap
bench_variant "$bundle" "$nap" sleep 2

# crun where it works here: it refuses a hybrid cgroup host with controllers in neither place
crun_note=
if [[ " ${runtimes[*]} " == *" crun "* ]] && ! why=$(crun --root "$work/root-crun" run -b "$bundle" bench 2>&1); then
  crun_note="crun left out: \`crun run\` fails on this machine: $(tail -1 <<<"$why")"
  runtimes=(capsa runc)
  echo "$crun_note" >&2
fi

args=()
for rt in "${runtimes[@]}"; do
  c="${cmd[$rt]} --root $work/root-$rt"
  # each checked once, so that a failure is not hidden by the benchmark; for capsa this also
  # starts the capsa server, and the warm-up runs below warm it
  $c run -b "$bundle" bench || die "$rt run failed"
  $c run -d -b "$sleeper" idle >/dev/null || die "$rt run -d failed"
  $c exec idle true || die "$rt exec failed"
  args+=(-n "$rt run true" "$c run -b $bundle bench")
  args+=(-n "$rt create+start+delete" "sh -c '$c create -b $bundle bench && $c start bench && $c delete --force bench'")
  args+=(-n "$rt state" "$c state idle")
  args+=(-n "$rt exec true" "$c exec idle true")
  args+=(-n "$rt --version" "${cmd[$rt]} --version")
done

mkdir -p "$(dirname "$out")"
json=$work/hyperfine.json
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$json" "${args[@]}" >&2

{
  echo "| command | capsa median [ms] | runc median [ms] | crun median [ms] | capsa / runc |"
  echo "|:---|---:|---:|---:|---:|"
  for what in "run true" "create+start+delete" "state" "exec true" "--version"; do
    med() { jq -r --arg n "$1 $what" '.results[] | select(.command == $n) | .median * 1000' "$json"; }
    c=$(med capsa) r=$(med runc) k=$(med crun)
    printf '| %s | %.1f | %.1f | %s | %.2f |\n' "$what" "$c" "$r" "${k:+$(printf %.1f "$k")}" \
      "$(echo "$c / $r" | bc -l)"
  done
  echo
  echo "| peak RSS [MiB] (GNU time) | capsa | runc | crun |"
  echo "|:---|---:|---:|---:|"
  rss() { # rss RT ARGS...: the maxresident of one run of the runtime process
    local rt=$1
    shift
    /usr/bin/time -f %M ${cmd[$rt]} --root "$work/root-$rt" "$@" 2>&1 >/dev/null | tail -1
  }
  row=(); for rt in capsa runc crun; do
    if [[ " ${runtimes[*]} " == *" $rt "* ]]; then row+=("$(echo "scale=1; $(rss "$rt" run -b "$bundle" bench) / 1024" | bc)"); else row+=(""); fi
  done
  echo "| run true | ${row[0]} | ${row[1]} | ${row[2]} |"
  row=(); for rt in capsa runc crun; do
    if [[ " ${runtimes[*]} " == *" $rt "* ]]; then row+=("$(echo "scale=1; $(rss "$rt" run -b "$nap" sleeper) / 1024" | bc)"); else row+=(""); fi
  done
  echo "| foreground run waiting for a sleeping container | ${row[0]} | ${row[1]} | ${row[2]} |"
  if [[ -n $crun_note ]]; then
    echo
    echo "$crun_note"
  fi
  server=$("$capsa" --version | sed -n 's/^server: pid //p')
  if [[ -n $server ]]; then
    echo
    echo "The capsa server (pid $server) that served these commands: $(($(awk '/VmRSS/ {print $2}' "/proc/$server/status") / 1024)) MiB resident, shared by every command."
  fi
} | tee "$out"
