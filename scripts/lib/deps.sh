# shellcheck shell=bash
# What scripts/test and scripts/demo need from the machine, checked (and installed where apt can)
# the same way in both. Source it; every function takes the caller's name (WHO) for its messages.
#
#   deps_install WHO PKG...      install the Debian packages that are missing (apt-get update
#                                first, and only when something is missing); root or sudo
#   deps_require_cmds WHO CMD... fail naming the first command that is not on PATH
#   deps_require_cargo WHO       fail with a pointer to rustup when there is no cargo
#   deps_require_docker WHO      fail clearly unless a Docker Engine answers; prints its version

deps_install() {
  local who=$1
  shift
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "$who: no dpkg-query (not Debian?); not installing: $*" >&2
    return 0
  fi
  local p missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "$who: need root or sudo to install: ${missing[*]}" >&2
      return 1
    }
    sudo=(sudo)
  fi
  echo "$who: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" || return 1
}

deps_require_cmds() {
  local who=$1 bin
  shift
  for bin in "$@"; do
    command -v "$bin" >/dev/null 2>&1 || { echo "$who: '$bin' not found" >&2; return 1; }
  done
}

deps_require_cargo() {
  command -v cargo >/dev/null 2>&1 || {
    echo "$1: cargo not found; install a Rust toolchain (https://rustup.rs)" >&2
    return 1
  }
}

deps_require_docker() {
  local who=$1 server
  command -v docker >/dev/null 2>&1 || {
    echo "$who: the docker CLI is not installed; a running Docker Engine is needed" >&2
    return 1
  }
  if ! server=$(timeout 20 docker version --format '{{.Server.Version}}' 2>&1); then
    echo "$who: Docker Engine not reachable (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock})." >&2
    echo "  Is dockerd running, and may $(id -un) use its socket (root or the docker group)?" >&2
    echo "  docker said: $(sed '/^[[:space:]]*$/d' <<<"$server" | head -n 3)" >&2
    return 1
  fi
  echo "$server"
}
