#!/usr/bin/env bash
# Installs what Capsa needs to build and test, then builds the distribution.
#   sudo scripts/setup.sh
# Debian 12 or Ubuntu. Safe to run again: it only calls apt-get when something is
# missing, so on a ready machine it goes straight to the build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/jdk.sh
. "$root/scripts/lib/jdk.sh"

die() { echo "setup.sh: $*" >&2; exit 1; }
trap 'echo "setup.sh: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

# package, and how to tell it is there without dpkg: a command on PATH or an
# absolute file; "-" means ask dpkg only.
required=(
  "maven mvn"
  "gcc gcc"
  "make make"
  "libc6-dev -"          # libc.a: capsa-init links statically
  "libseccomp-dev -"
  "busybox-static -"     # a dynamic busybox cannot be copied into a rootfs
  "runc runc"
  "crun crun"
  "hyperfine hyperfine"
  "bats bats"
  "jq jq"
  "time /usr/bin/time"   # GNU time for /usr/bin/time -v (`time` alone is the shell keyword)
  "iproute2 ip"
  "procps ps"
  "util-linux unshare"
  # the vm backend: QEMU, the guest kernel and what scripts/build-guest.sh uses
  "qemu-system-x86 qemu-system-x86_64"
  "linux-image-amd64 -"
  "xz-utils xz"
  "cpio cpio"
  # the vm backend's libvirt launcher (docs/vm.md): the daemon, libvirt.so.0 and virsh. Nothing
  # starts the daemon here (no service starts during the install); see docs/vm.md
  "libvirt-daemon-system /usr/sbin/libvirtd"
  "libvirt-clients virsh"
  # engines that drive Capsa in the integration tests
  "podman podman"
  "containerd containerd"
  "docker.io /usr/sbin/dockerd"   # DockerIT starts a private dockerd; the package's own service stays off
  "python3-grpcio -"     # ContainerdIT's CRI client (Debian packages no crictl)
)

installed() { # package probe
  case $2 in
    -) ;;
    /*) [[ -x $2 ]] && return 0 ;;
    *) command -v "$2" >/dev/null 2>&1 && return 0 ;;
  esac
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

missing=()
for entry in "${required[@]}"; do
  read -r pkg probe <<<"$entry"
  installed "$pkg" "$probe" || missing+=("$pkg")
done

jdk=$(capsa_find_jdk)
if ((${#missing[@]} > 0)) || [[ -z $jdk ]]; then
  [[ $(id -u) -eq 0 ]] || die "must run as root to install packages (${missing[*]:-a JDK 21+}): sudo scripts/setup.sh"
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 and Ubuntu; install ${missing[*]:-a JDK 21+} by hand"
  export DEBIAN_FRONTEND=noninteractive
  echo "setup.sh: apt-get update" >&2
  apt-get update -qq || die "apt-get update failed"
  if [[ -z $jdk ]]; then
    jdk_pkg=""
    for candidate in openjdk-25-jdk-headless openjdk-21-jdk-headless; do
      policy=$(apt-cache policy "$candidate" 2>/dev/null)
      if [[ $policy == *"Candidate:"* && $policy != *"Candidate: (none)"* ]]; then
        jdk_pkg=$candidate
        break
      fi
    done
    [[ -n $jdk_pkg ]] || die "no JDK 21 or newer is installed and apt offers none (tried openjdk-25-jdk-headless, openjdk-21-jdk-headless): install a JDK 21+ (for example Temurin) and set JAVA_HOME, then run this again"
    missing+=("$jdk_pkg")
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  # Packages such as docker.io start their system service on install (on a machine without
  # systemd through invoke-rc.d): a system dockerd would add a bridge and iptables rules to the
  # host. Debian's policy-rc.d hook (exit 101: "action forbidden") stops that; one is put in
  # place for the install only, unless the machine already has its own.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# scripts/setup.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  status=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  ((own_policy == 0)) || rm -f "$policy"
  ((status == 0)) || die "apt-get install ${missing[*]} failed"
  [[ -n $jdk ]] || jdk=$(capsa_find_jdk)
  [[ -n $jdk ]] || die "installed a JDK but found none >= 21 under /usr/lib/jvm: install a JDK 21+ and set JAVA_HOME"
fi

# The libvirt launcher's detached containers write to the descriptors capsa inherited, which libvirt
# opens as file chardevs. With libvirt's default stdio_handler ("logd") virtlogd writes those and
# fails on a pipe or terminal ("Unable to determine current file offset"), so libvirtd must open
# them itself. Set once, only when qemu.conf does not set stdio_handler already (docs/vm.md);
# a running daemon reads it when it starts again.
qemu_conf=/etc/libvirt/qemu.conf
if [[ -f $qemu_conf && $(id -u) -eq 0 ]] && ! grep -qE '^[[:space:]]*stdio_handler[[:space:]]*=' "$qemu_conf"; then
  printf '\n# scripts/setup.sh (Capsa): libvirtd opens file chardevs itself (docs/vm.md "The libvirt launcher")\nstdio_handler = "file"\n' >>"$qemu_conf"
  echo "setup.sh: set stdio_handler = \"file\" in $qemu_conf (for capsa's libvirt launcher)" >&2
fi

capsa_use_jdk "$jdk"
echo "setup.sh: building with JDK $(capsa_jdk_major "$jdk") at $jdk" >&2
cd "$root"
mvn -B -q -DskipTests package ||
  die "build failed: see the Maven output above (rerun without -q: mvn -B -DskipTests package)"

# the vm backend's guest image (kernel and modules); a no-op when it is up to date
if [[ $(id -u) -eq 0 ]]; then
  "$root/scripts/build-guest.sh" || die "building the vm backend's guest image failed (see above)"
else
  echo "setup.sh: not root: skipped scripts/build-guest.sh (the vm backend needs its image: sudo scripts/build-guest.sh)" >&2
fi

launcher=$root/cli/target/capsa/bin/capsa
[[ -x $launcher ]] || die "the build finished but left no launcher at $launcher"
cat <<EOF
capsa is built: $launcher
Put it on PATH for this shell:
  export PATH="$root/cli/target/capsa/bin:\$PATH"
or for everyone:
  sudo ln -sf "$launcher" /usr/local/bin/capsa
Run the tests: sudo scripts/test.sh
EOF
