#!/usr/bin/env bash
# What each JVM flag of lib/capsa-jvm buys: the launcher's flags are taken away one at a time
# (and all together), each variant with an AOT cache trained for it, and timed on commands that
# run in a JVM of their own (CAPSA_SERVER=0): `state` of a missing container and `spec`. Then the
# resident size of a capsa server with that variant after 100 `state` commands.
#   bench/jvm-flags.sh [-o FILE] [-w WARMUP] [-r RUNS]
# CAPSA names the launcher (default cli/target/capsa/bin/capsa); its distribution is copied, never
# changed. The table goes to FILE (default bench/results/jvm-flags.md) and to stdout.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init jvm-flags 10 "$@"
dist=$(dirname "$(dirname "$capsa")")
grep -q '^exec "\$java" ' "$dist/lib/capsa-jvm" || die "$dist/lib/capsa-jvm has no exec line to vary"
flags=$(sed -n 's/^exec "\$java" \(.*\) "\$@"$/\1/p' "$dist/lib/capsa-jvm")
[[ -n $flags ]] || die "cannot read the JVM flags of $dist/lib/capsa-jvm"

work=$(mktemp -d "${TMPDIR:-/tmp}/capsa-flags.XXXXXX")
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  rm -rf -- "$work"
}
trap cleanup EXIT

# name and flags of each variant: the launcher's, each flag left out, none
variants=("all: $flags")
for f in $flags; do
  variants+=("without $f: $(tr ' ' '\n' <<<"$flags" | grep -vxF -- "$f" | tr '\n' ' ' | sed 's/ $//')")
done
variants+=("none: ")

args=()
rss_rows=()
i=0
for v in "${variants[@]}"; do
  name=${v%%: *} opts=${v#*: }
  d=$work/dist-$i
  cp -a "$dist" "$d"
  echo "jvm-flags-$i-$$" >"$d/lib/build-id" # a server of its own
  sed -i "s|^exec \"\$java\" .* \"\$@\"\$|exec \"\$java\" $opts \"\$@\"|" "$d/lib/capsa-jvm"
  rm -f "$d/lib/capsa.aot"
  # the cache trained the way the build does it, with this variant's flags
  CAPSA_JAVA_OPTS="-XX:AOTCacheOutput=$d/lib/capsa.aot -Xlog:aot=error,cds=error" \
    "$d/bin/capsa" aot-train >/dev/null 2>&1 || echo "variant '$name': no AOT cache (training failed)" >&2
  mkdir -p "$work/root-$i" "$work/spec-$i"
  CAPSA_SERVER=0 "$d/bin/capsa" --root "$work/root-$i" state missing >/dev/null 2>&1 && die "state of a missing container exited 0"
  args+=(-n "$name: state (missing)" "env CAPSA_SERVER=0 $d/bin/capsa --root $work/root-$i state missing")
  args+=(-n "$name: spec" "sh -c 'cd $work/spec-$i && rm -f config.json && CAPSA_SERVER=0 $d/bin/capsa spec'")
  # the server with these flags, after 100 commands
  for _ in $(seq 100); do "$d/bin/capsa" --root "$work/root-$i" state missing >/dev/null 2>&1 || true; done
  pid=$("$d/bin/capsa" --version | sed -n 's/^server: pid //p')
  if [[ -n $pid ]]; then
    servers+=("$pid")
    rss_rows+=("| $name | $(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status") |")
    kill -TERM "$pid"
  fi
  i=$((i + 1))
done

json=$work/hyperfine.json
hyperfine -i -N --warmup "$warmup" --runs "$runs" --export-json "$json" "${args[@]}" >&2

mkdir -p "$(dirname "$out")"
{
  echo "Flags of lib/capsa-jvm: \`$flags\`; $(nproc) cores, $(date -u +%F)."
  echo
  echo "| variant: command in a JVM of its own | median [ms] | mean [ms] |"
  echo "|:---|---:|---:|"
  jq -r '.results[] | "| \(.command) | \(.median * 1000 | . * 10 | round / 10) | \(.mean * 1000 | . * 10 | round / 10) |"' "$json"
  echo
  echo "| variant | capsa server RSS after 100 commands [MiB] |"
  echo "|:---|---:|"
  printf '%s\n' "${rss_rows[@]}"
} | tee "$out"
