#!/bin/sh
# Builds the agent image (default tag sidekick:latest) FROM scratch, without a registry:
#   1. cargo build --release --bin sidekick (skipped when SIDEKICK_BIN names a built binary);
#   2. a temporary build context whose rootfs/ holds the binary, every library `ldd` lists for it
#      (the binary links glibc dynamically; no musl target is installed here), the CA bundle
#      and a minimal nsswitch.conf;
#   3. docker build -t TAG.
#   usage: docker/sidekick/build.sh [TAG]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tag="${1:-sidekick:latest}"
cacerts="${CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"

if [ -n "${SIDEKICK_BIN:-}" ]; then
    bin="$SIDEKICK_BIN"
else
    (cd "$root" && cargo build --release --bin sidekick)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/sidekick"
fi
[ -x "$bin" ] || { echo "build.sh: no executable at $bin" >&2; exit 1; }
[ -r "$cacerts" ] || { echo "build.sh: CA bundle $cacerts not found (apt-get install ca-certificates)" >&2; exit 1; }

ctx=$(mktemp -d "${TMPDIR:-/tmp}/sidekick-ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT INT TERM
rootfs="$ctx/rootfs"
mkdir -p "$rootfs/usr/bin" "$rootfs/etc/ssl/certs" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$bin" "$rootfs/usr/bin/sidekick"
# Release builds are already stripped; a debug binary (SIDEKICK_BIN) shrinks several-fold.
if command -v strip >/dev/null 2>&1; then strip "$rootfs/usr/bin/sidekick"; fi
cp "$cacerts" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"

# ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", the loader as
# "/lib64/ld-linux-x86-64.so.2 (0x...)", and "linux-vdso.so.1 (0x...)" (in the kernel; skipped).
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$libs" ] || { echo "build.sh: ldd found no libraries for $bin" >&2; exit 1; }
for lib in $libs; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"   # -L: the file, not the symlink (e.g. /lib64/ld-linux-x86-64.so.2)
done

cp "$here/Dockerfile" "$ctx/"
# The legacy builder builds FROM scratch offline and needs no buildx plugin.
DOCKER_BUILDKIT=0 docker build --label org.opencontainers.image.title=sidekick -t "$tag" "$ctx"
