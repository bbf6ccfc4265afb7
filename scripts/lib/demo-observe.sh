# shellcheck shell=bash
# What scripts/demo looks at, each seen from outside sidekick where it can be: the containers
# (docker inspect), health (sidekick check --json), the keys (etcdctl), the emulator's load
# balancer (its /_emulator/ admin API), nginx's upstream file, and requests through nginx.
# Needs from the caller: DIR, SIDEKICK, ETCD_URL, EMU_URL, LB_ID, NGINX_PORT, N_WEB, N_RUN, DIGEST, and
# the arrays HOSTPORT[i] / HOSTNAME_OF[i] that remember each instance's port and hostname (the
# port binding disappears from docker inspect once a container stops).

web_name() { printf 'web%02d' "$1"; }
container_name() { printf 'demo-web-%02d' "$1"; }
key_prefix() { printf '/services/web/web%02d/' "$1"; }

etcdctl_() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" --dial-timeout 2s --command-timeout 3s "$@"; }

# OBS_STATE ("running", "exited", "absent") and OBS_PORT (host port of 80/tcp, or "") of instance $1.
obs_container() {
  local out
  out=$(docker inspect --format '{{.State.Status}} {{range $p, $b := .NetworkSettings.Ports}}{{if eq $p "80/tcp"}}{{range $b}}{{.HostPort}}{{end}}{{end}}{{end}}' \
    "$(container_name "$1")" 2>/dev/null) || out="absent"
  OBS_STATE=${out%% *}
  OBS_PORT=""
  [[ $out == *" "* ]] && OBS_PORT=${out#* }
  return 0
}

# The sidekick check arguments of instance $1: the same flags as its `sidekick run`, or for a
# labelled instance the host agent's flags (check reads the rest from the labels).
agent_args() {
  if [ "$1" -gt "$N_RUN" ]; then
    printf '%s\n' --container "$(container_name "$1")" --health-digest "$DIGEST" \
      --etcd-endpoints "$ETCD_URL"
    return 0
  fi
  printf '%s\n' --container "$(container_name "$1")" --container-port 80/tcp \
    --key "/services/web/$(web_name "$1")" --health-digest "$DIGEST" --etcd-endpoints "$ETCD_URL"
}

# OBS_CHECK_OK (1/0) and OBS_CHECK ("yes: 200, sha1 matches" or "no: <reason>") from
# `sidekick check --json` for instance $1.
obs_check() {
  local json args
  mapfile -t args < <(agent_args "$1")
  json=$(timeout 15 "$SIDEKICK" check --json "${args[@]}" 2>/dev/null) || true
  if [ -z "$json" ]; then
    OBS_CHECK_OK=0
    OBS_CHECK="no: sidekick check printed nothing"
    return 0
  fi
  if [ "$(jq -r .registrable <<<"$json")" = true ]; then
    OBS_CHECK_OK=1
    OBS_CHECK=$(jq -r '"yes: \(.probe.status), sha1 \(if .probe.observed_sha1 == .probe.expected_sha1 then "matches" else "differs" end)"' <<<"$json")
  else
    OBS_CHECK_OK=0
    # The row already names the instance: 'container "demo-web-01" does not exist' -> 'container
    # does not exist'.
    OBS_CHECK="no: $(jq -r .reason_text <<<"$json" | sed 's/^container "[^"]*" /container /')"
  fi
}

# OBS_KEYS (how many keys under the instance's prefix), OBS_KEY_PORT and OBS_LEASE (hex) from
# etcdctl. `-w fields` prints leases as exact decimal integers (jq would round them).
obs_keys() {
  local out
  out=$(etcdctl_ get --prefix "$(key_prefix "$1")" -w fields 2>/dev/null) || out=""
  OBS_KEYS=$(grep -c '^"Key" : ' <<<"$out" || true)
  OBS_KEY_PORT=$(awk -F' : ' '$1 == "\"Key\"" { port = ($2 ~ /\/port"$/) } port && $1 == "\"Value\"" { gsub(/"/, "", $2); print $2; exit }' <<<"$out")
  local lease
  lease=$(awk -F' : ' '$1 == "\"Lease\"" && $2 != "0" { print $2; exit }' <<<"$out")
  OBS_LEASE=""
  [ -z "$lease" ] || OBS_LEASE=$(printf '%x' "$lease")
}

keys_present() { [ -n "$(etcdctl_ get --prefix "$(key_prefix "$1")" --keys-only 2>/dev/null)" ]; }
keys_absent() {
  local out
  out=$(etcdctl_ get --prefix "$(key_prefix "$1")" --keys-only 2>/dev/null) && [ -z "$out" ]
}

# The emulator load balancer's nodes as "ADDR:PORT CONDITION" lines; status 1 if it did not answer.
lb_nodes() {
  curl -fsS -m 2 "$EMU_URL/_emulator/loadbalancers/$LB_ID/nodes" 2>/dev/null |
    jq -r '.nodes[] | "\(.address):\(.port) \(.condition)"'
}
# (Captured first: `lb_nodes | grep -q` could fail under pipefail when grep exits early.)
lb_has() {
  local nodes
  nodes=$(lb_nodes) && grep -q "^127.0.0.1:$1 " <<<"$nodes"
}
lb_lacks() {
  local nodes
  nodes=$(lb_nodes) || return 1
  ! grep -q "^127.0.0.1:$1 " <<<"$nodes"
}
lb_count() {
  local nodes
  nodes=$(lb_nodes) || return 1
  grep -c . <<<"$nodes" || true
}
lb_status() {
  curl -sS -m 2 "$EMU_URL/_emulator/loadbalancers/$LB_ID" 2>/dev/null | jq -r '.status // "?"'
}

nginx_has() { grep -q "^ *server 127.0.0.1:$1;" "$DIR/nginx/upstream.conf"; }
nginx_lacks() { ! nginx_has "$1"; }
nginx_count() { grep -c '^ *server [0-9.]*:[0-9]*;' "$DIR/nginx/upstream.conf" || true; }

# One request for / through nginx: prints the instance that answered ("web01"), or "HTTP <code>",
# or "error".
ask_nginx() {
  local body host i
  body=$(curl -sS -m 2 "http://127.0.0.1:$NGINX_PORT/" 2>/dev/null -w '\n%{http_code}') || {
    echo error
    return 0
  }
  host=$(sed -n 's/.*<b id="hostname">\([^<]*\)<.*/\1/p' <<<"$body")
  for ((i = 1; i <= N_WEB; i++)); do
    if [ -n "$host" ] && [ "${HOSTNAME_OF[$i]:-}" = "$host" ]; then
      web_name "$i"
      echo
      return 0
    fi
  done
  echo "HTTP ${body##*$'\n'}"
}

# The status table: one row per instance, TABLE_LINES lines in all; each line ends with TABLE_EOL
# (set it to "\033[K", erase to end of line, when redrawing in place on a terminal).
TABLE_LINES=0
TABLE_EOL=""
print_table() {
  local i lines=() agent cont check etcd ngx lb lbnodes
  lbnodes=$(lb_nodes 2>/dev/null || true)
  lines+=("$(printf '  %-8s %-5s %-16s %-32s %-27s %-5s %s' instance agent container \
    'health (sidekick check)' 'etcd: port, lease (keys)' nginx LB)")
  for ((i = 1; i <= N_WEB; i++)); do
    obs_container "$i"
    cont=$OBS_STATE
    [ -z "$OBS_PORT" ] || cont+=" :$OBS_PORT"
    obs_check "$i"
    check=$OBS_CHECK
    [ "${#check}" -le 32 ] || check="${check:0:31}~"
    obs_keys "$i"
    if [ "$OBS_KEYS" -gt 0 ]; then
      etcd="${OBS_KEY_PORT:-?} ${OBS_LEASE:-no lease} ($OBS_KEYS)"
    else
      etcd="-"
    fi
    ngx=no
    if [ -n "${HOSTPORT[$i]:-}" ] && nginx_has "${HOSTPORT[$i]}"; then ngx=yes; fi
    lb=no
    if [ -n "${HOSTPORT[$i]:-}" ] && grep -q "^127.0.0.1:${HOSTPORT[$i]} " <<<"$lbnodes"; then
      lb=yes
    fi
    agent=run
    [ "$i" -le "$N_RUN" ] || agent=host
    lines+=("$(printf '  %-8s %-5s %-16s %-32s %-27s %-5s %s' "$(web_name "$i")" "$agent" "$cont" \
      "$check" "$etcd" "$ngx" "$lb")")
  done
  lines+=("$(printf '  nginx 127.0.0.1:%s upstream web: %s server(s); LB demo-lb (id %s, %s): %s node(s)' \
    "$NGINX_PORT" "$(nginx_count)" "$LB_ID" "$(lb_status)" "$(grep -c . <<<"$lbnodes" || true)")")
  TABLE_LINES=${#lines[@]}
  printf "%s$TABLE_EOL\n" "${lines[@]}"
}
