#!/usr/bin/env bash
# Offline "Docker Hub" for the lab's guests: a docker-registry (Debian package
# docker-registry) listening ONLY on 192.168.56.1:5555, the host's address on
# the isolated libvirt network labgen-lab (sandbox/vm/libvirt.sh up makes it).
# Guests use it as a registry mirror: {"registry-mirrors": ["http://192.168.56.1:5555"]}.
#   up      start it (pidfile /run/labgen-vm/hub.pid) and fill it with
#           $LABGEN_IMAGES_DIR/registry-2.tar   -> library/registry:2
#           $LABGEN_IMAGES_DIR/nginx-alpine.tar -> library/nginx:alpine
#           $LABGEN_IMAGES_DIR/httpd-2.tar      -> library/httpd:2 (part 2's htpasswd)
#           (docker-archive tarballs; a missing one is skipped with a warning,
#            LABGEN_HUB_REQUIRE_IMAGES=1 makes that an error)
#   down    stop it by pidfile and remove its storage
#   status
set -euo pipefail

# shellcheck source=sandbox/vm/pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"

ADDR=${LABGEN_HUB_ADDR:-192.168.56.1}
PORT=${LABGEN_HUB_PORT:-5555}
IMAGES_DIR=${LABGEN_IMAGES_DIR:-/var/cache/labgen/images}
STORE=/var/lib/labgen-vm/hub
RUN_DIR=/run/labgen-vm
PIDFILE=$RUN_DIR/hub.pid
CONF=$RUN_DIR/hub-config.yml
LOGFILE=$RUN_DIR/hub.log
# tarball -> repository:tag
IMAGES=("registry-2.tar=library/registry:2" "nginx-alpine.tar=library/nginx:alpine" "httpd-2.tar=library/httpd:2")

log() { printf '[hub.sh] %s\n' "$*" >&2; }

pid_alive() { pidfile_is "$PIDFILE" docker-registry; }

answers() {
  curl -fsS --noproxy '*' -m 2 -o /dev/null "http://$ADDR:$PORT/v2/" 2>/dev/null
}

stop_hub() { stop_pidfile "$PIDFILE" docker-registry; }

cmd_up() {
  if [[ $(ip -o addr show) != *"inet $ADDR/"* ]]; then
    log "$ADDR is not on any interface; run sandbox/vm/libvirt.sh up first"
    exit 1
  fi
  mkdir -p "$RUN_DIR" "$STORE"
  if ! pid_alive; then
    cat >"$CONF" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STORE
  delete:
    enabled: true
http:
  addr: $ADDR:$PORT
YML
    log "starting docker-registry on $ADDR:$PORT (storage $STORE)"
    nohup /usr/bin/docker-registry serve "$CONF" >"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  local i
  for ((i = 0; i < 100; i++)); do answers && break; sleep 0.1; done
  if ! answers; then
    log "docker-registry does not answer on $ADDR:$PORT"; tail -20 "$LOGFILE" >&2; exit 1
  fi
  local pair tar ref
  for pair in "${IMAGES[@]}"; do
    tar=$IMAGES_DIR/${pair%%=*}
    ref=${pair#*=}
    if [[ ! -f $tar ]]; then
      if [[ ${LABGEN_HUB_REQUIRE_IMAGES:-0} == 1 ]]; then log "missing $tar"; exit 1; fi
      log "WARNING: $tar missing; $ref not loaded"
      continue
    fi
    log "skopeo copy $tar -> $ADDR:$PORT/$ref"
    skopeo copy -q --dest-tls-verify=false "docker-archive:$tar" "docker://$ADDR:$PORT/$ref"
  done
  log "up: $(curl -fsS --noproxy '*' -m 5 "http://$ADDR:$PORT/v2/_catalog")"
}

cmd_down() {
  stop_hub
  rm -rf "$STORE" "$CONF" "$LOGFILE"
  log "down"
}

cmd_status() {
  if pid_alive; then echo "hub: running (pid $(read_pid "$PIDFILE")) on $ADDR:$PORT"; else echo "hub: stopped"; fi
  if answers; then curl -fsS --noproxy '*' -m 5 "http://$ADDR:$PORT/v2/_catalog"; echo; fi
}

if [[ $(id -u) -ne 0 ]]; then log "must run as root"; exit 1; fi
case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
