#!/bin/sh
# Entrypoint of sidekick-web (see Dockerfile). Writes /www/index.html with this container's
# hostname, then runs busybox httpd in the foreground as a child of this shell. busybox httpd as
# PID 1 would ignore SIGTERM (the kernel drops signals PID 1 has no handler for), so the shell
# stays PID 1, traps TERM/INT, stops httpd and exits 0.
set -eu
port="${WEB_PORT:-80}"
host="$(hostname)"
cat > /www/index.html <<HTML
<!doctype html>
<html><head><title>sidekick-web $host</title></head>
<body>
<h1>There is no place like 127.0.0.1</h1>
<p>Served by container <b id="hostname">$host</b>.</p>
<p>Health: <a href="/health.php">/health.php</a></p>
</body></html>
HTML
httpd -f -p "$port" -h /www -u 65534:65534 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true; exit 0' TERM INT
# `wait` returns early when a trapped signal arrives; otherwise with httpd's own exit status.
set +e
wait "$child"
exit $?
