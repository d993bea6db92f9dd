#!/usr/bin/env bash
# Runs every test: unit tests (surefire) and integration tests (failsafe, as root).
#   sudo scripts/test.sh [extra mvn arguments, e.g. -Dit.test=LifecycleIT]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/jdk.sh
. "$root/scripts/lib/jdk.sh"

# The integration tests run real containers; skipping them quietly would report a
# green run that tested half the runtime.
if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: the integration tests need root: run sudo scripts/test.sh (mvn test runs the unit tests alone)" >&2
  exit 1
fi

jdk=$(capsa_find_jdk)
[[ -n $jdk ]] || { echo "test.sh: no JDK 21 or newer found: run sudo scripts/setup.sh, or install one and set JAVA_HOME" >&2; exit 1; }
capsa_use_jdk "$jdk"

cd "$root"
exec mvn -B verify "$@"
