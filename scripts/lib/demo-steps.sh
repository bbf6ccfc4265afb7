# shellcheck shell=bash
# How scripts/demo talks to the person running it, and keeps count: one line per step (say), the
# why of it (explain), pauses (interactive on a terminal only), the status table (redrawn in place
# on a terminal), and the steps observed so far (observed / missing / finish).
# Needs from the caller: CHECK (0/1), STEPS (the names, in order), DIR.

WHO="scripts/demo"
NOBS=0
STARTED_MS=$(now_ms)

fmt_ms() {
  local ms=$1
  if [ "$ms" -lt 1000 ]; then
    printf '%d ms' "$ms"
  else
    printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
  fi
}
elapsed() { fmt_ms $(($(now_ms) - STARTED_MS)); }

interactive_tty() { [ "$CHECK" = 0 ] && [ -t 0 ]; }

banner() {
  local mode="interactive"
  [ "$CHECK" = 0 ] || mode="--check: unattended, every step under a deadline"
  echo "sidekick demo ($mode)"
  echo "  5 web containers -> 3 sidekick run + 1 sidekick host -> etcd -> sidekick lbsync -> nginx"
  echo "  and a Rackspace CLB (emulated); then two containers stop. Everything listens on 127.0.0.1"
  echo "  only."
  echo "  Logs: $DIR (removed at the end unless DEMO_KEEP_LOGS=1)"
  if interactive_tty; then
    echo "  Enter moves on (or it does after 30 s); Ctrl-C stops and cleans up."
  fi
}

say() { printf '\n==> %s\n' "$*"; }
explain() { printf '    %s\n' "$@"; }

pause() {
  interactive_tty || return 0
  read -r -t 30 -p "    [Enter: next step] " || echo
}

observed() {
  local name=$1 detail=${2:-}
  if [ "${STEPS[$NOBS]:-}" != "$name" ]; then
    echo "$WHO: bug: observed '$name' where '${STEPS[$NOBS]:-(no more steps)}' was expected" >&2
    exit 3
  fi
  NOBS=$((NOBS + 1))
  printf '    ok %2d/%d  %s%s  [%s]\n' "$NOBS" "${#STEPS[@]}" "$name" "${detail:+: $detail}" \
    "$(elapsed)"
}

mode_name() { if [ "$CHECK" = 1 ]; then echo "demo --check"; else echo "demo"; fi; }

# Logs of everything started, last lines of each, without colour codes.
show_logs() {
  local f
  for f in "$DIR"/*.log "$DIR"/nginx/error.log; do
    [ -s "$f" ] || continue
    echo "    --- last lines of $f"
    tail -n "${1:-12}" "$f" | sed 's/\x1b\[[0-9;]*m//g; s/^/    | /'
  done
}

missing() {
  local name=$1 why=$2
  printf '    MISSING %d/%d  %s: %s  [%s]\n' $((NOBS + 1)) "${#STEPS[@]}" "$name" "$why" "$(elapsed)"
  show_logs 12 || true
  printf '%s: %d/%d steps observed; missing: %s (after %s)\n' "$(mode_name)" "$NOBS" \
    "${#STEPS[@]}" "$name" "$(elapsed)"
  exit 1
}

finish() {
  printf '\n%s: %d/%d steps observed in %s\n' "$(mode_name)" "$NOBS" "${#STEPS[@]}" "$(elapsed)"
  [ "$NOBS" = "${#STEPS[@]}" ] || exit 1
  exit 0
}

# Runs CMD with its output in LOG, under a deadline (a build can take minutes). On a terminal in
# interactive mode the output goes to the terminal instead, so cargo's progress shows.
run_logged() {
  local seconds=$1 log=$2 rc=0
  shift 2
  if interactive_tty && [ -t 1 ]; then
    timeout "$seconds" "$@" || rc=$?
  else
    timeout "$seconds" "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
      tail -n 1 "$log" | sed 's/^ */    /'
    else
      tail -n 30 "$log" | sed 's/^/    | /'
    fi
  fi
  [ "$rc" != 124 ] || echo "    (killed after $seconds s)"
  return "$rc"
}

# The table, once; on a terminal in interactive mode redrawn every second until Enter (30 s max).
show_table() {
  echo
  if ! interactive_tty || [ ! -t 1 ]; then
    print_table
    return 0
  fi
  local i prompt="    [Enter: next step; the table refreshes every second]"
  TABLE_EOL=$'\033[K'
  print_table
  echo "$prompt"
  for ((i = 0; i < 30; i++)); do
    if read -r -t 1; then break; fi
    printf '\033[%dA' $((TABLE_LINES + 1))
    print_table
    echo "$prompt"
  done
  TABLE_EOL=""
}
