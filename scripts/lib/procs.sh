# shellcheck shell=bash
# Background processes a script starts and must stop again, free loopback ports, and bounded
# waits. Source it, then call procs_init with a state directory of the caller's own.
#
#   procs_init DIR                 remember everything started in DIR/procs ("PID NAME EXE")
#   procs_start NAME LOG CMD...    CMD in its own session (setsid: Ctrl-C on the terminal does not
#                                  reach it, and its children go with it), output to LOG;
#                                  sets PROC_PID
#   procs_spawn NAME LOG FN...     the same for a shell function, in a background subshell
#   procs_stop GLOB...             SIGTERM the process groups whose NAME matches a GLOB, wait up
#                                  to 5 s for all of them, then SIGKILL what is left
#   procs_reap_stale WHO PATTERN   for state dirs matching PATTERN whose owner (DIR/owner.pid) is
#                                  dead: stop the processes they recorded (only if still running
#                                  the recorded executable), then remove the dir
#   free_port VAR                  set VAR to a loopback TCP port nothing listens on (and not
#                                  handed out before by this script)
#   now_ms                         milliseconds since the epoch, without forking
#   wait_until SECONDS CMD...      run CMD every 20 ms until it succeeds (0) or SECONDS pass (1)

PROCS_DIR=""
PROC_PID=""
PORTS_GIVEN=" "

procs_init() {
  PROCS_DIR=$1
  : >"$PROCS_DIR/procs"
  echo "$$" >"$PROCS_DIR/owner.pid"
}

procs_start() {
  local name=$1 log=$2 exe
  shift 2
  exe=$(readlink -f "$(command -v "$1")")
  setsid "$@" >"$log" 2>&1 </dev/null &
  PROC_PID=$!
  echo "$PROC_PID $name $exe" >>"$PROCS_DIR/procs"
  # Until the exec (of setsid, then of CMD) the child is still a copy of bash; wait for it so
  # that "runs EXE" below means what it says. At most 2 s.
  local i
  for ((i = 0; i < 200; i++)); do
    _procs_is "$PROC_PID" "$exe" || ! kill -0 "$PROC_PID" 2>/dev/null && break
    sleep 0.01
  done
}

# Like procs_start, for a shell function: a background subshell (same executable as this shell).
procs_spawn() {
  local name=$1 log=$2
  shift 2
  ("$@") >"$log" 2>&1 </dev/null &
  PROC_PID=$!
  echo "$PROC_PID $name $(readlink "/proc/$$/exe")" >>"$PROCS_DIR/procs"
}

# True while PID runs EXE (so a recycled pid is never signalled).
_procs_is() {
  [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]
}

# Stops the "PID NAME EXE" lines on stdin: TERM to each group, bounded wait, then KILL.
_procs_stop_lines() {
  local pid name exe pids=() exes=() i left
  while read -r pid name exe; do
    [ -n "$pid" ] || continue
    if _procs_is "$pid" "$exe"; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      exes+=("$exe")
    fi
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  for ((i = 0; i < 250; i++)); do # 250 x 20 ms = 5 s
    left=0
    for pid in "${!pids[@]}"; do
      if _procs_is "${pids[$pid]}" "${exes[$pid]}"; then left=1; fi
    done
    [ "$left" = 1 ] || break
    sleep 0.02
  done
  for pid in "${!pids[@]}"; do
    if _procs_is "${pids[$pid]}" "${exes[$pid]}"; then
      kill -KILL -- "-${pids[$pid]}" 2>/dev/null || kill -KILL "${pids[$pid]}" 2>/dev/null || true
    fi
  done
  # Reap our own children so they leave no zombies behind; never blocks on strangers.
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

procs_stop() {
  [ -f "${PROCS_DIR:-/nonexistent}/procs" ] || return 0
  local pid name exe glob
  while read -r pid name exe; do
    for glob in "$@"; do
      # shellcheck disable=SC2053 # glob match on purpose
      if [[ $name == $glob ]]; then
        echo "$pid $name $exe"
        break
      fi
    done
  done <"$PROCS_DIR/procs" | _procs_stop_lines
}

procs_reap_stale() {
  local who=$1 pattern=$2 dir owner
  for dir in $pattern; do
    [ -f "$dir/owner.pid" ] || continue
    owner=$(cat "$dir/owner.pid" 2>/dev/null || true)
    [[ $owner =~ ^[0-9]+$ ]] || continue # e.g. "kept": logs someone asked to keep
    if kill -0 "$owner" 2>/dev/null; then continue; fi
    if [ -f "$dir/procs" ]; then
      _procs_stop_lines <"$dir/procs"
    fi
    rm -rf "$dir"
    echo "$who: cleaned up after an earlier run that did not finish ($dir)"
  done
}

free_port() {
  local var=$1 i p
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12000)) # below Linux's default ephemeral range (32768-60999)
    case "$PORTS_GIVEN" in *" $p "*) continue ;; esac
    if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      PORTS_GIVEN+="$p "
      printf -v "$var" '%s' "$p"
      return 0
    fi
  done
  echo "free_port: no free port found in 100 tries" >&2
  return 1
}

now_ms() {
  local t=${EPOCHREALTIME//[.,]/}
  echo $((t / 1000))
}

wait_until() {
  local seconds=$1 deadline i
  shift
  deadline=$(($(now_ms) + seconds * 1000))
  for ((i = 0; i < seconds * 100 + 1; i++)); do
    if "$@"; then return 0; fi
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.02
  done
  return 1
}
