#!/usr/bin/env bash
# The 2014 web sidekick, re-created for the benchmark: the ExecStart loop of monweb@.service from
# srirajan/onmetal-docker (see /work/shared/reference/seed-sidekicks.md, section 1), with etcdctl's
# v3 API instead of v2. The 2014 loop ran `etcdctl set KEY VALUE --ttl 10` five times; v3 has no
# per-key TTL, so each healthy cycle grants one 10 s lease and binds the five puts to it.
# As in 2014: curl of the root URL without a timeout, five separate etcdctl calls (not one
# transaction), TTL equal to the sleep, and no reaction to Docker at all.
#
# Environment (the benchmark sets all of them):
#   PORT               published host port of the web container (the unit derived it as 180%i)
#   KEY                key prefix, e.g. /services/web/web01
#   UNIT, HOST_NAME    values of the unit and host keys (%n and %H in the unit)
#   PUBLIC_IP          COREOS_PUBLIC_IPV4 (also the address curl checks)
#   PRIVATE_IP         COREOS_PRIVATE_IPV4
#   ETCDCTL_ENDPOINTS  etcd client URL(s)
#   TTL, INTERVAL      lease TTL and sleep, both 10 as in 2014
set -u
export ETCDCTL_API=3
: "${PORT:?}" "${KEY:?}" "${ETCDCTL_ENDPOINTS:?}"
unit=${UNIT:-monweb@01.service}
host=${HOST_NAME:-core01}
public=${PUBLIC_IP:-127.0.0.1}
private=${PRIVATE_IP:-$public}
ttl=${TTL:-10}
interval=${INTERVAL:-10}

while true; do
  if curl -sf "http://${public}:${PORT}/" >/dev/null; then
    out=$(etcdctl lease grant "$ttl")   # "lease 694d7a3b2c1e0f0a granted with TTL(10s)"
    lease=${out#lease }
    lease=${lease%% *}
    etcdctl put --lease="$lease" "$KEY/unit" "$unit" >/dev/null
    etcdctl put --lease="$lease" "$KEY/host" "$host" >/dev/null
    etcdctl put --lease="$lease" "$KEY/public_ipv4_addr" "$public" >/dev/null
    etcdctl put --lease="$lease" "$KEY/private_ipv4_addr" "$private" >/dev/null
    etcdctl put --lease="$lease" "$KEY/port" "$PORT" >/dev/null
  else
    etcdctl del "$KEY/unit" >/dev/null
    etcdctl del "$KEY/host" >/dev/null
    etcdctl del "$KEY/public_ipv4_addr" >/dev/null
    etcdctl del "$KEY/private_ipv4_addr" >/dev/null
    etcdctl del "$KEY/port" >/dev/null
  fi
  sleep "$interval"
done
