#!/usr/bin/env bash
# Builds the vm backend's guest image from Debian's kernel package (linux-image-amd64):
#   scripts/build-guest.sh [--kernel /boot/vmlinuz-VERSION] [--out DIR]
# Writes DIR/VERSION/vmlinux and DIR/VERSION/modules.cpio and points DIR/current at VERSION.
# DIR is $CAPSA_GUEST_DIR or /var/lib/capsa/guest; the kernel is $CAPSA_GUEST_KERNEL or the
# newest /boot/vmlinuz-*. Safe to run again: it does nothing when the image is up to date.
#
# - vmlinux: the uncompressed kernel, cut out of the shipped bzImage (find the xz stream,
#   decompress it). QEMU boots it through its PVH entry, which saves the ~4.3 s that
#   decompressing costs under TCG (docs/vm.md).
# - modules.cpio: an uncompressed newc cpio with the modules the guest needs (virtio-mmio,
#   virtio-pci, virtio_console, 9p over virtio) and their dependencies from modules.dep, plus
#   /etc/capsa/modules, the load order (dependencies first) that the agent follows with
#   finit_module. Each module is copied without its signature and its trace-event tables: the
#   guest's kernel does not enforce signatures, and checking them and registering the events
#   took about 45 ms of the boot under TCG. Entries are sorted, owned by 0:0 and dated 1970-01-01, so the same kernel gives
#   the same bytes. The agent (/init) is not in it: the backend prepends it at run time from the
#   plugin jar, so upgrading Capsa never needs a new image.
set -euo pipefail

die() { echo "build-guest.sh: $*" >&2; exit 1; }

out=${CAPSA_GUEST_DIR:-/var/lib/capsa/guest}
kernel=${CAPSA_GUEST_KERNEL:-}
while (($#)); do
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

if [[ -z $kernel ]]; then
  kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)
  [[ -n $kernel ]] || die "no /boot/vmlinuz-*: apt-get install linux-image-amd64 (or pass --kernel)"
fi
[[ -r $kernel ]] || die "cannot read the kernel $kernel"
version=${kernel##*/vmlinuz-}
[[ $version != "$kernel" ]] || die "$kernel is not named vmlinuz-VERSION"
moddir=/lib/modules/$version
[[ -f $moddir/modules.dep ]] || die "no $moddir/modules.dep: the modules of $version are not installed"
for tool in xz cpio objcopy; do
  command -v $tool >/dev/null || die "$tool not found: apt-get install $(sed 's/^xz$/xz-utils/; s/^objcopy$/binutils/' <<<"$tool")"
done

# the modules the agent needs; the rest of the list is their dependencies. virtio_pci is for the
# libvirt launcher's q35 guest (libvirt refuses microvm with a 9p share); on microvm it loads and
# finds no device
wanted=(virtio_mmio virtio_pci virtio_console 9pnet_virtio 9p)

dest=$out/$version
self=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
stamp="kernel=$kernel size=$(stat -c %s "$kernel") mtime=$(stat -c %Y "$kernel") script=$self"
if [[ -f $dest/vmlinux && -f $dest/modules.cpio && -f $dest/stamp && $(cat "$dest/stamp") == "$stamp" ]]; then
  ln -sfn "$version" "$out/current"
  echo "build-guest.sh: $dest is up to date" >&2
  exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "$out/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

# vmlinux: try every xz stream start in the bzImage until one decompresses to an ELF file
found=""
while read -r offset; do
  # xz stops at the end of its stream, so tail may die of SIGPIPE: judge by the output alone
  { tail -c +$((offset + 1)) "$kernel" | xz -dc --single-stream >"$work/vmlinux" 2>/dev/null; } || true
  if [[ $(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ') == '177ELF' ]]; then
    found=$offset
    break
  fi
done < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kernel" | cut -d: -f1)
[[ -n $found ]] || die "found no xz-compressed ELF kernel in $kernel (only xz bzImages are supported: CONFIG_KERNEL_XZ)"
LC_ALL=C grep -qaP 'Xen\x00' "$work/vmlinux" || echo "build-guest.sh: warning: $kernel may have no PVH entry (CONFIG_PVH)" >&2

# modules: depth-first over modules.dep, dependencies first, each once
declare -A deps=() path_of=() done_=()
while IFS= read -r line; do
  mod=${line%%:*}
  name=${mod##*/}
  name=${name%.ko*}
  path_of[${name//-/_}]=$mod
  deps[$mod]=${line#*:}
done <"$moddir/modules.dep"
builtin=$(cat "$moddir/modules.builtin" 2>/dev/null || true)
order=()
visit() {
  local mod=$1 dep
  [[ -z ${done_[$mod]:-} ]] || return 0
  done_[$mod]=1
  for dep in ${deps[$mod]}; do visit "$dep"; done
  order+=("$mod")
}
for name in "${wanted[@]}"; do
  key=${name//-/_}
  if [[ -n ${path_of[$key]:-} ]]; then
    visit "${path_of[$key]}"
  elif grep -qE "/${name}\.ko$" <<<"$builtin"; then
    : # built into this kernel
  else
    die "the kernel $version has no module $name (the vm backend needs it; linux-image-cloud-amd64 has no 9p)"
  fi
done

# objcopy writes the ELF file alone, so the signature appended after it goes too
strip_sections=()
for section in _ftrace_events _ftrace_eval_map __bpf_raw_tp_map; do
  strip_sections+=(-R "$section" -R ".rela$section")
done

root=$work/root
mkdir -p "$root/etc/capsa"
: >"$root/etc/capsa/modules"
for mod in "${order[@]}"; do
  [[ $mod == *.ko ]] || die "$mod is compressed: the agent loads plain .ko files (CONFIG_MODULE_COMPRESS_NONE)"
  mkdir -p "$root$moddir/$(dirname "$mod")"
  # without the appended signature and the trace-event tables (docs/vm.md, "The guest image"):
  # each costs the guest's boot tens of ms under TCG, for nothing a container's guest uses
  objcopy "${strip_sections[@]}" "$moddir/$mod" "$root$moddir/$mod"
  echo "$moddir/$mod" >>"$root/etc/capsa/modules"
done
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
  cpio -o -H newc -R 0:0 --reproducible --quiet) >"$work/modules.cpio"

mkdir -p "$dest"
mv -f "$work/vmlinux" "$dest/vmlinux"
mv -f "$work/modules.cpio" "$dest/modules.cpio"
rm -f "$dest"/initramfs-*.cpio # made by the backend from modules.cpio; stale now
echo "$stamp" >"$dest/stamp"
ln -sfn "$version" "$out/current"
echo "build-guest.sh: $dest: vmlinux $(stat -c %s "$dest/vmlinux") bytes, modules.cpio $(stat -c %s "$dest/modules.cpio") bytes (${#order[@]} modules)" >&2
