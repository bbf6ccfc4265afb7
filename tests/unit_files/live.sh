#!/usr/bin/env bash
# The hardened units under a real systemd: boots Debian bookworm's systemd (a debootstrap root
# file system brought in with `docker import`) in a container on the host's network, installs
# the sidekick binary under test and unit-files/*.service exactly as written, and checks that
# each unit does its job inside its sandbox, as a non-root user without capabilities, with no
# secret in its environment:
#   sidekick-host.service  registers a labelled container in etcd (docker group, DynamicUser)
#   monweb@X.service       registers web-X in etcd
#   lbsync.service         adds the registered instances to a load balancer of clb-emulator,
#                          with the API key from LoadCredential= (not in /proc/PID/environ)
#   lbsync-nginx.service   writes nginx's upstream, `nginx -t` and reload pass (root with
#                          CAP_DAC_OVERRIDE and CAP_NET_BIND_SERVICE only; nginx listens on a
#                          port below 1024) and nginx proxies to the instance
#   stop                   SIGTERM from systemd removes the keys
# Given the Debian package (scripts/package) too, it then installs it in a fresh container of the
# same image and checks it as installed: tests/unit_files/package.sh.
# mondb.service is not started: it needs a container named "db" on a Docker Engine shared with
# other tests; it has the same sandbox as monweb@.
#
#   usage: tests/unit_files/live.sh SIDEKICK_BIN CLB_EMULATOR_BIN [SIDEKICK_DEB]
#
# When this machine cannot boot systemd in a container (no debootstrap, no mirror, the runtime
# refuses), it SKIPS with a loud message and exit 0: the unit tests (tests/unit_files) still ran.
# The root file system is cached as a tarball under $SIDEKICK_SYSTEMD_CACHE
# (default /var/cache/sidekick-test), so only the first run pays for debootstrap (~2 min).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
units="$here/../../unit-files"
bin=${1:?usage: live.sh SIDEKICK_BIN CLB_EMULATOR_BIN}
emu_bin=${2:?usage: live.sh SIDEKICK_BIN CLB_EMULATOR_BIN}
deb=${3:-}
cache=${SIDEKICK_SYSTEMD_CACHE:-/var/cache/sidekick-test}
image=sidekick-test-systemd:bookworm-2
started=$(date +%s)
run_id="l$$"
name="sidekick-live-$run_id"
work=$(mktemp -d "${TMPDIR:-/tmp}/sidekick-live.XXXXXX")
pids=()
containers=()

log() { echo "live-systemd: $*"; }
skip() {
  echo "########################################################################" >&2
  echo "live-systemd: SKIPPED: $*" >&2
  echo "live-systemd: the hardened units were NOT run under a real systemd" >&2
  echo "########################################################################" >&2
  exit 0
}
fail() {
  echo "live-systemd: FAILED: $*" >&2
  if [ "${#containers[@]}" -gt 0 ] && docker inspect "$name" >/dev/null 2>&1; then
    docker exec "$name" journalctl --no-pager -n 80 -u 'sidekick-host.service' -u 'monweb@*' \
      -u lbsync.service -u lbsync-nginx.service -u nginx.service >&2 || true
  fi
  exit 1
}
cleanup() {
  local rc=$?
  for c in "${containers[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
  log "finished (exit $rc) after $(($(date +%s) - started)) s"
}
trap cleanup EXIT

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.5 s until it succeeds.
wait_for() {
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$what (not within the deadline)"
    sleep 0.5
  done
}

# free_port [LOW SPAN]: a port in LOW..LOW+SPAN-1 nobody listens on (default 20000..39999).
free_port() {
  local p low=${1:-20000} span=${2:-20000}
  for _ in $(seq 1 50); do
    p=$((low + RANDOM % span))
    if ! ss -Htln "sport = :$p" | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  fail "no free port"
}

for cmd in docker etcd etcdctl curl ss; do
  command -v "$cmd" >/dev/null 2>&1 || skip "$cmd not installed"
done
[ -x "$bin" ] || fail "no sidekick binary at $bin"
[ -x "$emu_bin" ] || fail "no clb-emulator binary at $emu_bin"
[ -x /bin/busybox ] || skip "/bin/busybox (busybox-static) not installed"

# --- 1. the systemd image (cached) ---------------------------------------------------------
if ! docker image inspect "$image" >/dev/null 2>&1; then
  tarball="$cache/bookworm-systemd-2.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || skip "debootstrap not installed"
    mkdir -p "$cache" || skip "cannot create $cache"
    # The configured Debian mirror (deb822 or one-line sources), else deb.debian.org.
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
      2>/dev/null | grep -v '^\s*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs="$cache/rootfs.$$"
    log "debootstrap bookworm from $mirror (first run only, ~2 min)"
    # man-db and bash-completion: the package's man pages and completions, checked as installed.
    if ! debootstrap --variant=minbase \
      --include=systemd,systemd-sysv,nginx-light,ca-certificates,iproute2,man-db,bash-completion \
      bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1; then
      rm -rf "$rootfs"
      skip "debootstrap failed (see $cache/debootstrap.log)"
    fi
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  docker import "$tarball" "$image" >/dev/null || skip "docker import $tarball failed"
fi

# --- 2. etcd, the load balancer emulator, a web container ------------------------------------
etcd_port=$(free_port)
peer="http://127.0.0.1:$(free_port)"
etcd --name "live-$run_id" --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
  --initial-cluster "live-$run_id=$peer" >"$work/etcd.log" 2>&1 &
pids+=($!)
etcd_ep="http://127.0.0.1:$etcd_port"
wait_for 20 "etcd answers" etcdctl --endpoints "$etcd_ep" endpoint health
keys() { etcdctl --endpoints "$etcd_ep" get --prefix --keys-only "$1"; }

emu_port=$(free_port)
"$emu_bin" --listen "127.0.0.1:$emu_port" --user live:live-api-key --lb live-lb --region IAD \
  --pending-update 0s >"$work/emulator.log" 2>&1 &
pids+=($!)
wait_for 20 "clb-emulator answers" curl -fsS "http://127.0.0.1:$emu_port/_emulator/loadbalancers"

mkdir -p "$work/web/www"
cp /bin/busybox "$work/web/busybox"
printf '\n\nPASS' >"$work/web/www/health.php"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nCMD ["/bin/busybox","httpd","-f","-p","80","-h","/www"]\n' \
  >"$work/web/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t sidekick-test-live-web:1 "$work/web" >/dev/null 2>"$work/build.err" ||
  fail "docker build of the web image: $(cat "$work/build.err")"
web="web-$run_id"
docker run -d --name "$web" --label "sidekick-test.pid=$$" --label "sidekick-live=$run_id" \
  --label sidekick.key=/services/web/hostlive \
  --label sidekick.health.digest=19d549807218f4fc3f2129757445f977e4b81408 \
  -p 127.0.0.1::80 sidekick-test-live-web:1 >/dev/null
containers+=("$web")
web_port=$(docker port "$web" 80/tcp | head -n1 | sed 's/.*://')
wait_for 20 "web container serves" curl -fsS "http://127.0.0.1:$web_port/health.php"

# --- 3. boot systemd -------------------------------------------------------------------------
# Not --privileged: this machine may itself lack capabilities (CAP_SYS_RESOURCE here), and
# runc refuses to grant what it does not have. Host network: etcd, the emulator and the
# published ports are on this host's loopback. `mount --make-rshared /` lets systemd build the
# units' private mounts (ProtectSystem=, PrivateTmp=, ...).
caps=(--cap-add ALL)
bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
if (((bnd >> 24 & 1) == 0)); then caps+=(--cap-drop SYS_RESOURCE); fi
# boot_systemd NAME: a container of the image booted to a running systemd.
boot_systemd() {
  local c=$1 deadline
  if ! docker run -d --name "$c" --label "sidekick-test.pid=$$" "${caps[@]}" \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --cgroupns=private --network host \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp -v /var/run/docker.sock:/run/docker.sock \
    --entrypoint /bin/sh "$image" -c 'mount --make-rshared / && exec /sbin/init' >/dev/null 2>"$work/run.err"; then
    skip "the container runtime refused to start systemd: $(cat "$work/run.err")"
  fi
  containers+=("$c")
  deadline=$(($(date +%s) + 60))
  until docker exec "$c" systemctl is-system-running 2>/dev/null | grep -qE '^(running|degraded)$'; do
    if [ "$(date +%s)" -ge "$deadline" ] || [ "$(docker inspect -f '{{.State.Running}}' "$c")" != true ]; then
      skip "systemd did not boot in a container: $(docker logs "$c" 2>&1 | tail -n 5)"
    fi
    sleep 0.5
  done
  log "systemd $(docker exec "$c" systemctl --version | head -n1 | awk '{print $2}') booted in $c after $(($(date +%s) - started)) s"
}
boot_systemd "$name"
sx() { docker exec "$name" sh -c "$*"; }

# --- 4. install the binary and the units as written -------------------------------------------
docker cp "$bin" "$name:/usr/bin/sidekick" >/dev/null
for f in "$units"/*.service; do docker cp "$f" "$name:/etc/systemd/system/" >/dev/null; done
# The one change to the units as written: their loopback metrics ports (the container shares this
# host's network, where those ports may be taken) become free ones.
lbsync_metrics=$(free_port)
host_metrics=$(free_port)
docker exec "$name" sed -i "s/--metrics-addr 127.0.0.1:[0-9]*/--metrics-addr 127.0.0.1:$lbsync_metrics/" \
  /etc/systemd/system/lbsync.service
docker exec "$name" sed -i "s/--metrics-addr 127.0.0.1:[0-9]*/--metrics-addr 127.0.0.1:$host_metrics/" \
  /etc/systemd/system/sidekick-host.service
sock_gid=$(stat -c %g /var/run/docker.sock)
# A privileged port, as nginx's 80/443 would be: `nginx -t` binds the listen ports too (it only
# tolerates EADDRINUSE), so lbsync-nginx needs CAP_NET_BIND_SERVICE. Meaningful when
# ip_unprivileged_port_start is above it (1024 by default).
nginx_port=$(free_port 800 200)
if [ "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)" -le "$nginx_port" ]; then
  log "NOTE: ip_unprivileged_port_start allows port $nginx_port to anyone: CAP_NET_BIND_SERVICE goes untested"
fi
# prepare_root CONTAINER: what an operator provides around sidekick (the docker group, the
# addresses, the API key, nginx's site) and stand-ins for what is not in the container.
prepare_root() {
  docker exec "$1" sh -c "getent group docker >/dev/null || groupadd -g $sock_gid docker
mkdir -p /etc/sidekick
printf 'COREOS_PUBLIC_IPV4=127.0.0.1\nCOREOS_PRIVATE_IPV4=127.0.0.1\n' >/etc/environment
install -m 600 -o root -g root /dev/null /etc/sidekick/api-key
printf 'live-api-key\n' >/etc/sidekick/api-key
# Stand-ins: there is no Docker inside; web@ is already running on the host's engine.
printf '[Unit]\nDescription=stand-in\n[Service]\nExecStart=/bin/sleep infinity\n' >/etc/systemd/system/docker.service
printf '[Unit]\nDescription=stand-in for web@$run_id\n[Service]\nExecStart=/bin/sleep infinity\n' >/etc/systemd/system/web@$run_id.service
rm -f /etc/nginx/sites-enabled/default
printf 'server { listen 127.0.0.1:$nginx_port; location / { proxy_pass http://web; } }\n' >/etc/nginx/sites-enabled/live
printf 'upstream web { server 127.0.0.1:9 down; }\n' >/etc/nginx/conf.d/sidekick-upstream.conf"
}
# The settings the units read, as an operator writes them (each unit's own file must exist).
settings="printf 'SIDEKICK_ETCD_ENDPOINTS=$etcd_ep\n' >/etc/sidekick/sidekick.env
printf 'OS_USERNAME=live\nOS_REGION_NAME=IAD\nLB_NAME=live-lb\n' >/etc/sidekick/lbsync.env"
prepare_root "$name"
sx "$settings
touch /etc/sidekick/sidekick-host.env /etc/sidekick/monweb.env /etc/sidekick/lbsync-nginx.env"

# Test-only drop-ins: the shared Docker Engine holds other tests' containers (only ours for
# sidekick host), and the emulator stands in for Rackspace Identity.
dropin() { docker exec "${3:-$name}" sh -c "mkdir -p /etc/systemd/system/$1.d && printf '[Service]\n$2\n' >/etc/systemd/system/$1.d/live.conf"; }
notify=""
if ! grep -q 'WATCHDOG=1' "$bin"; then
  # The units say Type=notify; a binary without sd_notify would never become ready.
  notify='Type=exec\nWatchdogSec=0\n'
  log "NOTE: $bin has no sd_notify support yet: the units run with Type=exec (drop-in)"
fi
dropin sidekick-host.service "${notify}Environment=SIDEKICK_REQUIRE_LABEL=sidekick-live=$run_id"
dropin "monweb@$run_id.service" "${notify}"
# The emulator and the test's web container are on loopback, which lbsync refuses to send to a
# real load balancer unless told otherwise.
dropin lbsync.service "${notify}Environment=SIDEKICK_IDENTITY_URL=http://127.0.0.1:$emu_port/v2.0\nEnvironment=SIDEKICK_ALLOW_LOOPBACK=true"
dropin lbsync-nginx.service "${notify}"
sx "systemctl daemon-reload && systemctl restart nginx"

# --- 5. start them and check ---------------------------------------------------------------
# With Type=notify, start returns once each unit has sent READY=1.
sx "timeout 60 systemctl start sidekick-host.service monweb@$run_id.service lbsync.service lbsync-nginx.service" ||
  fail "systemctl start (Type=$(sx 'systemctl show -P Type lbsync.service'))"

# check_proc UNIT UID_KIND CAPEFF: the main process's user, capabilities and environment.
check_proc() {
  local unit=$1 want_root=$2 want_cap=$3 pid status
  pid=$(sx "systemctl show -P MainPID $unit")
  [ "${pid:-0}" != 0 ] || fail "$unit has no main process"
  status=$(sx "cat /proc/$pid/status")
  uid=$(echo "$status" | awk '/^Uid:/ {print $3}')
  cap=$(echo "$status" | awk '/^CapEff:/ {print $2}')
  if [ "$want_root" = root ]; then [ "$uid" = 0 ] || fail "$unit: uid $uid"; else [ "$uid" != 0 ] || fail "$unit runs as root"; fi
  [ "$cap" = "$want_cap" ] || fail "$unit: CapEff $cap, want $want_cap"
  if sx "tr '\0' '\n' </proc/$pid/environ" | grep -q 'live-api-key'; then fail "$unit: API key in its environment"; fi
  log "ok: $unit pid $pid uid $uid CapEff $cap, no secret in /proc/$pid/environ"
}

wait_for 30 "sidekick-host.service registers the labelled container" \
  sh -c "etcdctl --endpoints $etcd_ep get /services/web/hostlive/port --print-value-only | grep -qx $web_port"
check_proc sidekick-host.service user 0000000000000000
sx "grep -q '^Groups:.*\b$sock_gid\b' /proc/\$(systemctl show -P MainPID sidekick-host.service)/status" ||
  fail "sidekick-host.service lacks the docker group"

wait_for 30 "monweb@$run_id.service registers $web" \
  sh -c "etcdctl --endpoints $etcd_ep get /services/web/web$run_id/port --print-value-only | grep -qx $web_port"
check_proc "monweb@$run_id.service" user 0000000000000000

emu_nodes() { curl -fsS "http://127.0.0.1:$emu_port/_emulator/loadbalancers" | grep -q "\"port\":$web_port"; }
wait_for 30 "lbsync.service adds 127.0.0.1:$web_port to the load balancer" emu_nodes
check_proc lbsync.service user 0000000000000000
mode=$(sx "stat -c %a /run/credentials/lbsync.service/api-key")
[ "$mode" = 400 ] || fail "the api-key credential has mode $mode, want 400"

upstream_ok() { sx "grep -q 'server 127.0.0.1:$web_port;' /etc/nginx/conf.d/sidekick-upstream.conf"; }
wait_for 30 "lbsync-nginx.service writes the upstream" upstream_ok
wait_for 15 "nginx (reloaded) proxies to the instance" sh -c "curl -fsS http://127.0.0.1:$nginx_port/health.php | grep -q PASS"
check_proc lbsync-nginx.service root 0000000000000402

if [ -z "$notify" ]; then
  for u in sidekick-host.service "monweb@$run_id.service" lbsync.service lbsync-nginx.service; do
    [ "$(sx "systemctl show -P WatchdogUSec $u")" = 30s ] || fail "$u: no 30s watchdog"
    log "ok: $u ready (Type=notify), watchdog 30s, status: $(sx "systemctl show -P StatusText $u")"
  done
fi
for m in "$lbsync_metrics" "$host_metrics"; do
  curl -fsS "http://127.0.0.1:$m/healthz" >/dev/null || fail "GET /healthz on :$m"
  curl -fsS "http://127.0.0.1:$m/metrics" | grep -q '^sidekick_build_info' || fail "GET /metrics on :$m"
done
log "ok: /metrics and /healthz answer from inside the sandboxes"

sx "systemctl stop sidekick-host.service monweb@$run_id.service"
[ -z "$(keys /services/web/)" ] || fail "keys left after systemctl stop: $(keys /services/web/)"
log "ok: systemctl stop removed every key"
failed=$(sx "systemctl show -P Result sidekick-host.service monweb@$run_id.service lbsync.service lbsync-nginx.service" | grep -v '^$' | sort -u | tr '\n' ' ')
[ "$failed" = "success " ] || fail "unit results: $failed"
log "PASSED: hardened units ran under systemd in $(($(date +%s) - started)) s"

if [ -n "$deb" ]; then
  # shellcheck source=tests/unit_files/package.sh
  source "$here/package.sh"
fi
