# shellcheck shell=bash
# Finding the JDK that builds and tests Capsa. Sourced by scripts/*.sh and .ci/run.
#
# The build needs a JDK 21 or newer (maven.compiler.release 21); we build with the
# newest one found, because the launcher and the AOT cache get more from newer JDKs.

# capsa_jdk_major HOME: echo the feature version of the JDK at HOME, read from its
# release file ("25.0.3" -> 25), or nothing when HOME is not a JDK.
capsa_jdk_major() {
  local release="$1/release" line v
  [[ -r $release && -x $1/bin/java && -x $1/bin/javac ]] || return 0
  while IFS= read -r line; do
    if [[ $line == JAVA_VERSION=* ]]; then
      v=${line#JAVA_VERSION=}
      v=${v//\"/}
      v=${v%%[!0-9]*}
      [[ -n $v ]] && echo "$v"
      return 0
    fi
  done <"$release"
}

# capsa_find_jdk: echo the JAVA_HOME of the newest JDK >= 21, or nothing.
# CAPSA_JAVA_HOME, when it names a JDK >= 21, wins (the launcher honours it too).
# Otherwise the candidates are every JDK under /usr/lib/jvm, $JAVA_HOME, and the
# JDK behind `java` on PATH; the highest JAVA_VERSION wins.
capsa_find_jdk() {
  local home major line best="" best_version=""
  local -a candidates=()
  if [[ -n ${CAPSA_JAVA_HOME:-} ]]; then
    major=$(capsa_jdk_major "$CAPSA_JAVA_HOME")
    if [[ -n $major ]] && ((major >= 21)); then
      readlink -f -- "$CAPSA_JAVA_HOME"
      return 0
    fi
    echo "warning: CAPSA_JAVA_HOME=$CAPSA_JAVA_HOME is not a JDK 21 or newer; ignoring it" >&2
  fi
  candidates=(/usr/lib/jvm/*/)
  [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME")
  if home=$(command -v javac) && home=$(readlink -f -- "$home"); then
    candidates+=("${home%/bin/javac}")
  fi
  for home in "${candidates[@]}"; do
    [[ -d $home ]] || continue
    home=$(readlink -f -- "$home")
    major=$(capsa_jdk_major "$home")
    if [[ -z $major ]] || ((major < 21)); then continue; fi
    line=$(grep -m1 '^JAVA_VERSION=' "$home/release")
    line=${line#JAVA_VERSION=}
    line=${line//\"/}
    if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best_version" "$line" | sort -V | tail -n1) != "$best_version" ]]; then
      best=$home
      best_version=$line
    fi
  done
  [[ -n $best ]] && echo "$best"
  return 0
}

# capsa_use_jdk HOME: export JAVA_HOME, PATH and MAVEN_OPTS for Maven on that JDK.
capsa_use_jdk() {
  local major
  major=$(capsa_jdk_major "$1")
  export JAVA_HOME=$1
  export PATH="$JAVA_HOME/bin:$PATH"
  # JDK 24+ warns when Maven's own Guava/Guice use sun.misc.Unsafe or JNI (JEP 471, 472).
  if [[ -n $major ]] && ((major >= 24)); then
    case " ${MAVEN_OPTS:-} " in
      *" --sun-misc-unsafe-memory-access="*) ;;
      *) export MAVEN_OPTS="${MAVEN_OPTS:+$MAVEN_OPTS }--sun-misc-unsafe-memory-access=allow --enable-native-access=ALL-UNNAMED" ;;
    esac
  fi
}
