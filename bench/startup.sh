#!/usr/bin/env bash
# Start-up cost of capsa next to runc, for the commands that do little else:
# --version, spec, and state of a container that does not exist.
#   bench/startup.sh [-o FILE] [-w WARMUP] [-r RUNS]
# CAPSA names the launcher (default cli/target/capsa/bin/capsa). The markdown table
# goes to FILE (default bench/results/startup.md) and to stdout.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# a JVM per command, as without the capsa server (bench/runtimes.sh measures the server)
export CAPSA_SERVER=0
bench_init startup 20 "$@"
runc=$(command -v runc)

# Private state roots, so neither runtime touches /run. Both spec commands write
# config.json into the working directory, which is the temp dir too.
work=$(mktemp -d "${TMPDIR:-/tmp}/capsa-bench.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
mkdir -p "$work/root-capsa" "$work/root-runc" "$work/spec"
cd "$work/spec"
missing="capsa-bench-missing"

# Commands run without a shell (-N): runc answers in about 3 ms, less than hyperfine
# can correct for a shell's start-up.
capsa_version="$capsa --version"
runc_version="$runc --version"
capsa_spec="$capsa spec"
runc_spec="$runc spec"
capsa_state="$capsa --root $work/root-capsa state $missing"
runc_state="$runc --root $work/root-runc state $missing"
[[ "$capsa$runc$work" != *[[:space:]\'\"]* ]] || die "paths with spaces or quotes are not supported: $capsa $runc $work"

# hyperfine -i ignores every failure, so check once that each command behaves as
# expected: a broken launcher must not be timed as a fast one.
for cmd in "$capsa_version" "$runc_version" "$capsa_spec" "$runc_spec"; do
  rm -f config.json
  $cmd >/dev/null 2>&1 || die "failed: $cmd"
  case $cmd in *" spec") [[ -s config.json ]] || die "wrote no config.json: $cmd" ;; esac
done
for cmd in "$capsa_state" "$runc_state"; do
  status=0
  $cmd >/dev/null 2>&1 || status=$?
  ((status == 1)) || die "expected exit 1 (no such container), got $status: $cmd"
done

mkdir -p "$(dirname "$out")"
hyperfine -N -i --warmup "$warmup" --runs "$runs" --export-markdown "$out" \
  --prepare true -n "capsa --version" "$capsa_version" \
  --prepare true -n "runc --version" "$runc_version" \
  --prepare "rm -f config.json" -n "capsa spec" "$capsa_spec" \
  --prepare "rm -f config.json" -n "runc spec" "$runc_spec" \
  --prepare true -n "capsa state (missing)" "$capsa_state" \
  --prepare true -n "runc state (missing)" "$runc_state"

echo
cat "$out"
