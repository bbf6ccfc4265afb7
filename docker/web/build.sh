#!/bin/sh
# Builds the demo web image (default tag sidekick-web:latest) FROM scratch: a temporary build
# context with the Dockerfile, entrypoint.sh and the host's static busybox (BUSYBOX, default
# /bin/busybox from Debian's busybox-static). No registry or network is needed.
#   usage: docker/web/build.sh [TAG]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tag="${1:-sidekick-web:latest}"
busybox="${BUSYBOX:-/bin/busybox}"

[ -x "$busybox" ] || { echo "build.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
# A dynamically linked busybox would not run in a FROM-scratch image.
if ldd "$busybox" >/dev/null 2>&1; then
    echo "build.sh: $busybox is dynamically linked; install busybox-static" >&2
    exit 1
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/sidekick-web-ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT INT TERM
cp "$here/Dockerfile" "$here/entrypoint.sh" "$ctx/"
cp "$busybox" "$ctx/busybox"
chmod 755 "$ctx/busybox"
# The legacy builder builds FROM scratch offline and needs no buildx plugin.
DOCKER_BUILDKIT=0 docker build --label org.opencontainers.image.title=sidekick-web -t "$tag" "$ctx"
