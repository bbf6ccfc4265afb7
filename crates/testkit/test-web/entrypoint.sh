#!/bin/sh
# Entrypoint of the sidekick test image.
#   WEB_MODE=http (default)  busybox httpd on WEB_PORT (default 80) serving /www
#   WEB_MODE=tcp             a bare TCP listener on WEB_PORT (accepts, then closes; not HTTP)
#   WEB_IGNORE_SIGTERM=1     ignore SIGTERM, so `docker stop` waits out the whole timeout
# Otherwise SIGTERM/SIGINT stop the server at once and the container exits 0 (the shell is PID 1
# and installs a handler; a bare httpd as PID 1 would ignore SIGTERM).
port="${WEB_PORT:-80}"
case "${WEB_MODE:-http}" in
  tcp) set -- nc -ll -p "$port" -e /bin/true ;;
  http) set -- httpd -f -p "$port" -h /www ;;
  *) echo "entrypoint: unknown WEB_MODE=$WEB_MODE (want http or tcp)" >&2; exit 2 ;;
esac
if [ -n "${WEB_IGNORE_SIGTERM:-}" ]; then
  trap '' TERM
  exec "$@"
fi
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
wait "$child"
