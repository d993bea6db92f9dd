# shellcheck shell=bash disable=SC2034  # sets variables for the script that sources it
# Shared by the bench scripts: options, the capsa launcher, and failure messages.
# Sets: capsa (absolute launcher path), out (absolute output file), warmup, runs.
#   bench_init NAME DEFAULT_RUNS "$@"
bench_init() {
  bench_name=$1 default_runs=$2
  shift 2
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  capsa=${CAPSA:-$root/cli/target/capsa/bin/capsa}
  out=$root/bench/results/$bench_name.md
  warmup=${WARMUP:-3}
  runs=${RUNS:-$default_runs}
  local opt OPTIND=1
  while getopts o:w:r:h opt; do
    case $opt in
      o) out=$OPTARG ;;
      w) warmup=$OPTARG ;;
      r) runs=$OPTARG ;;
      *) bench_usage ;;
    esac
  done
  shift $((OPTIND - 1))
  (($# == 0)) || bench_usage
  command -v hyperfine >/dev/null || die "hyperfine not found: run sudo scripts/setup.sh"
  command -v runc >/dev/null || die "runc not found: run sudo scripts/setup.sh"
  [[ -x $capsa ]] || die "no capsa launcher at $capsa: build it (scripts/setup.sh) or set CAPSA"
  capsa=$(readlink -f -- "$capsa")
  [[ $out == /* ]] || out=$PWD/$out
}

bench_usage() { echo "usage: $0 [-o FILE] [-w WARMUP] [-r RUNS]" >&2; exit 2; }
die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# bench_bundle DIR FILTER: a busybox bundle in DIR (applets echo, true, sleep, sh) made with
# `capsa spec`, with no terminal and the jq FILTER applied to its config.json (the process, say).
bench_bundle() {
  local dir=$1 filter=$2 applet
  mkdir -p "$dir/rootfs/bin"
  cp /bin/busybox "$dir/rootfs/bin/"
  for applet in echo true sleep sh; do ln -s busybox "$dir/rootfs/bin/$applet"; done
  (cd "$dir" && "$capsa" spec)
  jq ".process.terminal = false | $filter" "$dir/config.json" >"$dir/config.json.new"
  mv "$dir/config.json.new" "$dir/config.json"
}

# bench_variant BUNDLE DIR ARG...: a bundle in DIR that shares BUNDLE's rootfs and runs ARG...
bench_variant() {
  local bundle=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  jq --arg root "$bundle/rootfs" '.root.path = $root | .process.args = $ARGS.positional' --args "$@" \
    <"$bundle/config.json" >"$dir/config.json"
}
