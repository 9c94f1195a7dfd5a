# shellcheck shell=bash
# Sourced by libvirt.sh and hub.sh: stop a daemon by the PID it recorded, and only
# while that PID still is the daemon (a PID is reused once its process ends, and a
# pidfile may be stale): the same check as sandbox/engine.sh's pid_is.

# pid_is PID NAME: PID is alive and its executable's basename is NAME
pid_is() {
  local pid=$1 name=$2 exe
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -d /proc/$pid ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  exe=${exe% (deleted)}
  [[ $(basename "$exe") == "$name" ]]
}

read_pid() { if [[ -f $1 ]]; then tr -dc '0-9' <"$1"; fi; }

# pidfile_is PIDFILE NAME: the process recorded in PIDFILE runs and is NAME
pidfile_is() { pid_is "$(read_pid "$1")" "$2"; }

# stop_pidfile PIDFILE NAME: TERM (then KILL) the process recorded in PIDFILE if it
# is NAME; any other process with that PID is left alone. Removes the pidfile.
stop_pidfile() {
  local pf=$1 name=$2 pid i
  pid=$(read_pid "$pf")
  if pid_is "$pid" "$name"; then
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      pid_is "$pid" "$name" || break
      sleep 0.1
    done
    if pid_is "$pid" "$name"; then
      log "$name did not stop, SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  elif [[ -n $pid ]] && [[ -d /proc/$pid ]]; then
    log "pid $pid in $pf is not $name now: left alone"
  fi
  rm -f "$pf"
}
