# shellcheck shell=bash
# What scripts/demo starts and does: etcd, clb-emulator, nginx, the two lbsyncs, the containers
# and their agents, requests through nginx, and the timed departure of one instance. Each start_*
# returns non-zero when what it started did not come up within its deadline.
# Needs from the caller: DIR, SIDEKICK, BIN_DIR, NGINX_BIN, IMAGE, N_WEB, N_RUN, GONE, DIGEST; the helpers of
# procs.sh and demo-observe.sh.

alive() { # NAME: the process procs_start recorded under NAME still runs
  local pid name exe
  while read -r pid name exe; do
    if [ "$name" = "$1" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
      return 0
    fi
  done <"$DIR/procs"
  return 1
}

# Containers of an earlier demo whose script is gone (a label names its pid), and processes of
# earlier demos that were killed before they could clean up.
reap_leftovers() {
  procs_reap_stale "$WHO" "$STALE_GLOB"
  local id name pid
  while read -r id name pid; do
    [ -n "$id" ] || continue
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      docker rm -f -v "$id" >/dev/null 2>&1 && echo "$WHO: removed $name, left by an earlier run"
    fi
  done < <(docker ps -a --filter label=sidekick-demo=1 \
    --format '{{.ID}} {{.Names}} {{.Label "sidekick-demo.pid"}}' 2>/dev/null || true)
}

etcd_up() { alive etcd && etcdctl_ endpoint health >/dev/null 2>&1; }

start_etcd() {
  local peer
  free_port ETCD_PORT
  free_port peer
  ETCD_URL="http://127.0.0.1:$ETCD_PORT"
  procs_start etcd "$DIR/etcd.log" etcd --name demo --data-dir "$DIR/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "demo=http://127.0.0.1:$peer"
  wait_until 15 etcd_up
}

emu_listening() {
  EMU_URL=$(sed -n 's|.*listening on \(http://[0-9.:]*\).*|\1|p' "$DIR/clb-emulator.log" | head -n 1)
  [ -n "$EMU_URL" ]
}

# The id of LB demo-lb, asked the way a Rackspace client would: a token from Identity, then
# the load balancer list at the endpoint the service catalog names for region ORD.
find_lb_id() {
  local auth token url
  auth=$(curl -fsS -m 5 -H 'Content-Type: application/json' "$EMU_URL/v2.0/tokens" \
    -d '{"auth":{"RAX-KSKEY:apiKeyCredentials":{"username":"demo","apiKey":"demo-api-key"}}}') ||
    return 1
  token=$(jq -r .access.token.id <<<"$auth")
  url=$(jq -r '.access.serviceCatalog[] | select(.type == "rax:load-balancer") | .endpoints[]
    | select(.region == "ORD") | .publicURL' <<<"$auth")
  LB_ID=$(curl -fsS -m 5 -H "X-Auth-Token: $token" "$url/loadbalancers" |
    jq -r '.loadBalancers[] | select(.name == "demo-lb") | .id') || return 1
  [ -n "$LB_ID" ]
}

start_emulator() {
  procs_start clb-emulator "$DIR/clb-emulator.log" "$BIN_DIR/clb-emulator" \
    --listen 127.0.0.1:0 --pending-update 300ms --lb demo-lb
  wait_until 15 emu_listening && find_lb_id
}

nginx_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/" || true; }
nginx_502() { [ "$(nginx_code)" = 502 ]; }

start_nginx() {
  local d="$DIR/nginx" user=""
  mkdir -p "$d"
  free_port NGINX_PORT
  # As root, workers would otherwise run as nobody and could not read the temp dir.
  [ "$(id -u)" != 0 ] || user="user root;"
  cat >"$d/nginx.conf" <<EOF
$user
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log notice;
events { worker_connections 256; }
http {
  access_log $d/access.log;
  client_body_temp_path $d/body; proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi; uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
  include $d/upstream.conf;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://web;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 1s;
    }
  }
}
EOF
  # What lbsync renders for no backends; nginx needs the upstream to exist from the start.
  printf 'upstream web {\n    server 127.0.0.1:1 down;\n}\n' >"$d/upstream.conf"
  NGINX_CMD="$(printf '%q -p %q -c %q -e %q' "$NGINX_BIN" "$d/" "$d/nginx.conf" "$d/error.log")"
  procs_start nginx "$DIR/nginx.log" "$NGINX_BIN" -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" \
    -g 'daemon off;'
  wait_until 15 nginx_502
}

start_lbsyncs() {
  (umask 077 && printf 'demo-api-key' >"$DIR/api-key")
  chmod 600 "$DIR/api-key"
  procs_start lbsync-nginx "$DIR/lbsync-nginx.log" "$SIDEKICK" lbsync --backend nginx \
    --etcd-endpoints "$ETCD_URL" --upstream-file "$DIR/nginx/upstream.conf" --upstream-name web \
    --check-cmd "$NGINX_CMD -t" --reload-cmd "$NGINX_CMD -s reload" \
    --election-key /sidekick/lbsync/nginx/demo
  procs_start lbsync-rackspace "$DIR/lbsync-rackspace.log" "$SIDEKICK" lbsync \
    --backend rackspace --etcd-endpoints "$ETCD_URL" --lb-name demo-lb --region ORD \
    --username demo --api-key-file "$DIR/api-key" --identity-url "$EMU_URL/v2.0" \
    --allow-loopback
}

lbsyncs_leading() {
  local b
  for b in nginx rackspace; do
    alive "lbsync-$b" && grep -q 'elected leader' "$DIR/lbsync-$b.log" || return 1
  done
}

# The containers, each published on a random 127.0.0.1 port: the first N_RUN with one
# `sidekick run` beside each, the others labelled for the one `sidekick host`, started before them
# (it manages only this demo's containers: --require-label).
start_webs() {
  local i name owner
  local -a labels
  for ((i = 1; i <= N_WEB; i++)); do
    name=$(container_name "$i")
    if owner=$(docker inspect --format '{{index .Config.Labels "sidekick-demo.pid"}}' "$name" 2>/dev/null); then
      echo "    container $name already exists (${owner:+it belongs to a scripts/demo still running as pid $owner}${owner:-not made by scripts/demo}); remove it first" >&2
      return 1
    fi
    labels=()
    if [ "$i" -gt "$N_RUN" ]; then
      labels=(--label "sidekick.key=/services/web/$(web_name "$i")"
        --label "sidekick.unit=monweb@$(printf '%02d' "$i").service")
      if [ "$i" = $((N_RUN + 1)) ]; then
        procs_start agent-host "$DIR/agent-host.log" "$SIDEKICK" host --etcd-endpoints "$ETCD_URL" \
          --health-digest "$DIGEST" --require-label "sidekick-demo.pid=$$"
        printf '    sidekick host (pid %s) for the labelled containers\n' "$PROC_PID"
      fi
    fi
    docker run -d --name "$name" --label sidekick-demo=1 --label "sidekick-demo.pid=$$" \
      "${labels[@]}" -p 127.0.0.1::80 "$IMAGE" >/dev/null || return 1
    obs_container "$i"
    if [ "$OBS_STATE" != running ] || [ -z "$OBS_PORT" ]; then
      echo "    $name is $OBS_STATE, published port: ${OBS_PORT:-none}" >&2
      return 1
    fi
    HOSTPORT[i]=$OBS_PORT
    HOSTNAME_OF[i]=$(docker inspect --format '{{.Config.Hostname}}' "$name")
    if [ "$i" -gt "$N_RUN" ]; then
      printf '    %s  127.0.0.1:%s  hostname %s  labels %s\n' "$name" "$OBS_PORT" \
        "${HOSTNAME_OF[i]}" "${labels[1]} ${labels[3]}"
      continue
    fi
    local args
    mapfile -t args < <(agent_args "$i")
    procs_start "agent-$(web_name "$i")" "$DIR/agent-$(web_name "$i").log" "$SIDEKICK" run \
      "${args[@]}" --unit "monweb@$(printf '%02d' "$i").service"
    printf '    %s  127.0.0.1:%s  hostname %s  agent pid %s\n' "$name" "$OBS_PORT" \
      "${HOSTNAME_OF[i]}" "$PROC_PID"
  done
}

all_registered() {
  local i
  for ((i = 1; i <= N_WEB; i++)); do
    obs_keys "$i"
    [ "$OBS_KEY_PORT" = "${HOSTPORT[i]}" ] && [ "$OBS_KEYS" = 5 ] || return 1
  done
}

CHECK_FAILURE=""
all_registrable() {
  local i
  for ((i = 1; i <= N_WEB; i++)); do
    obs_check "$i"
    [ "$OBS_CHECK_OK" = 1 ] || {
      CHECK_FAILURE="$(web_name "$i"): $OBS_CHECK"
      return 1
    }
  done
}

all_in_nginx() {
  local i
  for ((i = 1; i <= N_WEB; i++)); do nginx_has "${HOSTPORT[i]}" || return 1; done
}

all_in_lb() {
  local i nodes
  nodes=$(lb_nodes) || return 1
  for ((i = 1; i <= N_WEB; i++)); do
    grep -q "^127.0.0.1:${HOSTPORT[i]} ENABLED" <<<"$nodes" || return 1
  done
}

# N requests through nginx; ANSWERS holds who answered each, COUNTS "web01 x4 ..." .
declare -a ANSWERS=()
request_round() {
  local n=$1 i line=""
  ANSWERS=()
  for ((i = 0; i < n; i++)); do ANSWERS+=("$(ask_nginx)"); done
  printf '    %s\n' "${ANSWERS[*]}"
  for i in $(printf '%s\n' "${ANSWERS[@]}" | sort | uniq -c | awk '{ print $2 "=" $1 }'); do
    line+="${i%=*} x${i#*=}, "
  done
  printf '    answered: %s\n' "${line%, }"
}

answered_by() { [[ " ${ANSWERS[*]} " == *" $1 "* ]]; }

all_answered() {
  local i
  for ((i = 1; i <= N_WEB; i++)); do answered_by "$(web_name "$i")" || return 1; done
}

# After the departure: every other instance still registered, in both balancers and answering;
# the departed one in none of them and not answering.
others_still_serving() {
  local i w
  for ((i = 1; i <= N_WEB; i++)); do
    w=$(web_name "$i")
    if [[ " $GONE " == *" $i "* ]]; then
      ! answered_by "$w" || { CHECK_FAILURE="$w still answers"; return 1; }
      continue
    fi
    keys_present "$i" || { CHECK_FAILURE="$w has no keys"; return 1; }
    nginx_has "${HOSTPORT[i]}" || { CHECK_FAILURE="$w not in nginx"; return 1; }
    lb_has "${HOSTPORT[i]}" || { CHECK_FAILURE="$w not in the LB"; return 1; }
    answered_by "$w" || { CHECK_FAILURE="$w answered none of the requests"; return 1; }
  done
  for w in "${ANSWERS[@]}"; do
    [[ $w == web* ]] || { CHECK_FAILURE="a request got: $w"; return 1; }
  done
}

# Writes the ms from T0 to when CMD first succeeds into OUT; gives up 20 s after T0. Run in the
# background, one per condition, so that no poll waits for another.
stamp_when() {
  local out=$1 t0=$2 i
  shift 2
  for ((i = 0; i < 2000; i++)); do
    if "$@"; then
      echo $(($(now_ms) - t0)) >"$out"
      return 0
    fi
    [ $(($(now_ms) - t0)) -lt 20000 ] || return 1
    sleep 0.01
  done
}

# Runs CMD, then writes the ms from T0 into OUT.
stamp_after() {
  local out=$1 t0=$2
  shift 2
  "$@" && echo $(($(now_ms) - t0)) >"$out"
}

# Stops instance $1 and measures, from the moment `docker stop` is issued, when it returns
# (T_STOP), when the instance's keys leave etcd (T_ETCD), its node leaves the emulator LB (T_LB)
# and its server leaves nginx's upstream file (T_NGINX), in ms, each by its own background poller
# (each poll is one etcdctl or curl call: ~10-30 ms). Meanwhile requests go through nginx one
# after another (ASKED, FAILED, LAST_GONE) until all four are seen, then for 0.5 s more; 20 s max.
watch_leave() {
  local i=$1 port=${HOSTPORT[$1]} t0 now end=0 round who gone_last=-1 answers_gone=0 d="$DIR/leave"
  T_ETCD="" T_LB="" T_NGINX="" T_STOP="" ASKED=0 FAILED=0
  mkdir -p "$d"
  t0=$(now_ms)
  procs_spawn docker-stop "$DIR/docker-stop.log" stamp_after "$d/stop" "$t0" \
    docker stop "$(container_name "$i")"
  procs_spawn poll-etcd "$DIR/poll-etcd.log" stamp_when "$d/etcd" "$t0" keys_absent "$i"
  procs_spawn poll-lb "$DIR/poll-lb.log" stamp_when "$d/lb" "$t0" lb_lacks "$port"
  procs_spawn poll-nginx "$DIR/poll-nginx.log" stamp_when "$d/nginx" "$t0" nginx_lacks "$port"
  for ((round = 0; round < 2000; round++)); do
    who=$(ask_nginx)
    now=$(($(now_ms) - t0))
    ASKED=$((ASKED + 1))
    if [ "$who" = "$(web_name "$i")" ]; then
      gone_last=$now
      answers_gone=$((answers_gone + 1))
    elif [[ $who != web* ]]; then
      FAILED=$((FAILED + 1))
      echo "    request at +$(fmt_ms "$now") got: $who"
    fi
    if [ "$end" = 0 ] && [ -s "$d/stop" ] && [ -s "$d/etcd" ] && [ -s "$d/lb" ] &&
      [ -s "$d/nginx" ]; then
      end=$((now + 500))
    fi
    [ "$end" = 0 ] || [ "$now" -lt "$end" ] || break
    [ "$now" -lt 20000 ] || break
    sleep 0.01
  done
  procs_stop 'poll-*' docker-stop
  T_STOP=$(cat "$d/stop" 2>/dev/null || true)
  T_ETCD=$(cat "$d/etcd" 2>/dev/null || true)
  T_LB=$(cat "$d/lb" 2>/dev/null || true)
  T_NGINX=$(cat "$d/nginx" 2>/dev/null || true)
  if [ "$answers_gone" = 0 ]; then
    LAST_GONE="none answered by $(web_name "$i")"
  else
    LAST_GONE="$answers_gone answered by $(web_name "$i"), the last at +$(fmt_ms "$gone_last")"
  fi
  # In the order they happened.
  {
    printf '%s docker stop returned (the container exited)\n' "${T_STOP:-99999999}"
    printf '%s keys gone from etcd\n' "${T_ETCD:-99999999}"
    printf '%s node gone from the emulator LB\n' "${T_LB:-99999999}"
    printf '%s server gone from nginx upstream.conf\n' "${T_NGINX:-99999999}"
  } | sort -n | while read -r ms what; do
    if [ "$ms" = 99999999 ]; then
      printf '    %-10s %s\n' "not seen" "$what"
    else
      printf '    %-10s %s\n' "+$(fmt_ms "$ms")" "$what"
    fi
  done
  printf '    (each watched by its own poller, one etcdctl/curl/grep after another; meanwhile\n'
  printf '    %d requests went through nginx)\n' "$ASKED"
}

# After cleanup: none of the demo's processes or containers are left.
verify_clean() {
  local pid name exe ids
  while read -r pid name exe; do
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
      CHECK_FAILURE="$name (pid $pid) still runs"
      return 1
    fi
  done <"$DIR/procs"
  ids=$(docker ps -aq --filter "label=sidekick-demo.pid=$$")
  [ -z "$ids" ] || { CHECK_FAILURE="containers left: $ids"; return 1; }
}
