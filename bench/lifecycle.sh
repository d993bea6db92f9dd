#!/usr/bin/env bash
# Container lifecycle cost of capsa (ns backend) next to runc, on one busybox bundle:
#   run of /bin/true, and create + start + delete of a container whose process is /bin/true.
#   sudo bench/lifecycle.sh [-o FILE] [-w WARMUP] [-r RUNS]
# CAPSA names the launcher (default cli/target/capsa/bin/capsa). The markdown table goes to
# FILE (default bench/results/lifecycle.md) and to stdout.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# a JVM per command, as without the capsa server (bench/runtimes.sh measures the server)
export CAPSA_SERVER=0
bench_init lifecycle 15 "$@"
[[ $(id -u) -eq 0 ]] || die "containers need root: sudo $0"
[[ -x /bin/busybox ]] || die "busybox-static not found: run sudo scripts/setup.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/capsa-bench.XXXXXX")
cleanup() {
  "$capsa" --root "$work/root-capsa" delete --force bench >/dev/null 2>&1 || true
  runc --root "$work/root-runc" delete --force bench >/dev/null 2>&1 || true
  rm -rf -- "$work"
}
trap cleanup EXIT

# One bundle for both runtimes: busybox, `true` as the process, no terminal.
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/"
ln -s busybox "$bundle/rootfs/bin/true"
(cd "$bundle" && "$capsa" spec)
tmp=$(mktemp)
sed -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"true"/' "$bundle/config.json" >"$tmp"
mv "$tmp" "$bundle/config.json"
grep -q '"true"' "$bundle/config.json" || die "could not set the process to true in $bundle/config.json"

c="$capsa --root $work/root-capsa"
r="runc --root $work/root-runc"
# check each once, so that a failure is not hidden by the benchmark
$c run -b "$bundle" bench || die "capsa run failed"
$r run -b "$bundle" bench || die "runc run failed"

mkdir -p "$(dirname "$out")"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-markdown "$out" \
  -n "capsa run true" "$c run -b $bundle bench" \
  -n "runc run true" "$r run -b $bundle bench" \
  -n "capsa create+start+delete" "sh -c '$c create -b $bundle bench && $c start bench && $c delete --force bench'" \
  -n "runc create+start+delete" "sh -c '$r create -b $bundle bench && $r start bench && $r delete --force bench'"
cat "$out"
