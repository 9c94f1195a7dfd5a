#!/usr/bin/env bash
# Offline images for the labgen sandbox engine (see engine.sh).
# Usage: images.sh build [--force]   (DOCKER_HOST must point at the sandbox engine;
#                                      taken from engine.sh env when unset)
#        images.sh build [--force] SUITE...  only these node images (bookworm, trixie);
#                                      the default builds both
#        images.sh labbox [--force] [SUITE]  the lab box image of hosted classes, carrying
#                                      that suite's node image (default trixie; after build)
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
REPO=$(dirname "$HERE")
NS=labgen-${LABGEN_SANDBOX:-sbx}  # the engine.sh instance
HUB=127.0.0.1:5555
# the hub's storage, as engine.sh lays it out for this instance
HUB_STORAGE=/var/lib/labgen-sandbox/hub
[ "${LABGEN_SANDBOX:-sbx}" = sbx ] || HUB_STORAGE=/var/lib/labgen-$LABGEN_SANDBOX-sandbox/hub
# shared by every instance; LABGEN_CACHE_DIR moves it (a trial run away from the real one)
CACHE=${LABGEN_CACHE_DIR:-/var/cache/labgen}
IMG_CACHE=$CACHE/images
# Instances (LABGEN_SANDBOX) share CACHE: whoever writes to it holds this lock. Not
# build.lock, which callers may hold around the whole script: it would wait for itself.
CACHE_LOCK=$CACHE/images.lock
# the node images' Debian suites: bookworm = spec os debian-12, trixie = debian-13
NODE_SUITES="bookworm trixie"
# The hosted class's box runs on bookworm whatever its nodes run: the lab's claims are
# the nodes' engines', and each box carries one suite's node image (labgen/labbox:SUITE).
LABBOX_SUITE=bookworm
MIRROR=${LABGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${LABGEN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
NODE_PKGS_COMMON="iproute2 procps curl jq ca-certificates sudo"
# node_pkgs SUITE: the node's packages. Trixie's docker.io has no client (docker-cli,
# a Recommends), and netavark needs nft (nftables, a Recommends) for podman run.
node_pkgs() {
    case "$1" in
        bookworm) echo "docker.io $NODE_PKGS_COMMON" ;;
        trixie) echo "docker.io docker-cli podman nftables $NODE_PKGS_COMMON" ;;
        *) die "unknown node suite $1 (bookworm or trixie)" ;;
    esac
}
NODE_TEMPLATE=$REPO/templates/node
LABBOX_PKGS="openssh-server docker-registry dnsmasq-base"
LABBOX_TEMPLATE=$REPO/templates/labbox
# fixed mtime for files we generate, so contexts are identical run to run
EPOCH=1700000000
FORCE=0

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

# have_image IMAGE [STAND_IN_VERSION]: present (and built from this version of its
# recipe: the LABEL labgen.stand-in), so a changed recipe rebuilds an older image.
have_image() {
    [ "$FORCE" -eq 0 ] || return 1
    docker image inspect "$1" >/dev/null 2>&1 || return 1
    [ -z "${2:-}" ] || [ "$(docker image inspect -f '{{index .Config.Labels "labgen.stand-in"}}' "$1")" = "$2" ]
}

# The content of a template folder (node/, labbox/) as a key: the image built from it
# carries it as its labgen.stand-in label, so an edited template rebuilds the image.
template_key() {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# docker build, quiet unless it fails (hides the legacy-builder banner)
dbuild() {
    local out
    if ! out=$(docker build -q "$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "docker build $* failed"
    fi
}

timed() {
    local name=$1 t0=$SECONDS
    shift
    "$@"
    log "TIMING $name: $((SECONDS - t0))s"
}

# cache_lock / cache_unlock: around a check-then-write of CACHE, so two instances
# building at once neither write the same file nor both make it. Dying releases it.
CACHE_FD=""
cache_lock() {
    mkdir -p "$CACHE"
    exec {CACHE_FD}>>"$CACHE_LOCK"
    flock "$CACHE_FD"
}
cache_unlock() { exec {CACHE_FD}>&-; }

WORK=""
cleanup() {
    local m
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        # never leave chroot mounts behind
        for m in "$WORK/rootfs/proc" "$WORK/rootfs/dev/pts" "$WORK/rootfs/dev"; do
            if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
        done
        rm -rf "$WORK"
    fi
}
fix_mtimes() { find "$1" -exec touch -h -d "@$EPOCH" {} +; }

# busybox-static, checked: the stand-ins' /bin/sh (the real images are Alpine or
# Debian based and have one).
static_busybox() {
    local out
    out=$(ldd "$(command -v busybox)" 2>&1 || true)
    case "$out" in
        *"not a dynamic"*|*"statically linked"*) command -v busybox ;;
        *) die "busybox is not static (install busybox-static)" ;;
    esac
}

# copy_with_libs BINARY ROOTFS DEST: BINARY at DEST in ROOTFS, with the shared
# libraries and loader it needs at the paths ldd names.
copy_with_libs() {
    local bin=$1 root=$2 dest=$3 f
    mkdir -p "$root$(dirname "$dest")"
    cp "$bin" "$root$dest"
    for f in $(ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
    done
}

# ---------------------------------------------------------------- registry:2
# The real registry:2 (distribution 2.8.x, docker/distribution-library-image) is
# alpine + ca-certificates + /bin/registry, started by /entrypoint.sh with the config
# path as CMD. It has /bin/sh and busybox, and no htpasswd since 2.7.1: the stand-in
# matches (busybox has no htpasswd applet), so `--entrypoint htpasswd` fails as it
# really does.
build_registry() {
    if have_image registry:2 2; then log "registry:2 present"; return 0; fi
    local ctx=$WORK/registry
    mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/etc/docker/registry" "$ctx/rootfs/var/lib/registry" "$ctx/rootfs/tmp"
    copy_with_libs /usr/bin/docker-registry "$ctx/rootfs" /bin/registry
    cp "$(static_busybox)" "$ctx/rootfs/bin/busybox"
    chmod 1777 "$ctx/rootfs/tmp"
    cat >"$ctx/rootfs/etc/docker/registry/config.yml" <<'YML'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
YML
    # the real image's docker-entrypoint.sh, as it is
    cat >"$ctx/rootfs/entrypoint.sh" <<'SH'
#!/bin/sh

set -e

case "$1" in
    *.yaml|*.yml) set -- registry serve "$@" ;;
    serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac

exec "$@"
SH
    chmod 755 "$ctx/rootfs/entrypoint.sh"
    cat >"$ctx/Dockerfile" <<'DF'
# Stand-in for Docker Hub's registry:2 (distribution v2.8.x), built offline
# from Debian's docker-registry binary and busybox-static (Alpine's shell tools).
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
LABEL labgen.stand-in=2
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/entrypoint.sh"]
CMD ["/etc/docker/registry/config.yml"]
DF
    fix_mtimes "$ctx"
    dbuild -t registry:2 "$ctx"
    docker run --rm --entrypoint /bin/sh registry:2 -c '! command -v htpasswd' >/dev/null \
        || die "registry:2 stand-in has htpasswd; the real one has none"
    log "built registry:2 ($(/usr/bin/docker-registry --version))"
}

# ---------------------------------------------------------------- httpd:2
# Docker's docs now make the htpasswd file with `docker run --entrypoint htpasswd
# httpd:2 -Bbn USER PASS`. The real httpd:2 is Debian (bookworm) with Apache's
# htpasswd in /usr/local/apache2/bin on PATH; the stand-in carries Debian's
# apache2-utils htpasswd there, a busybox /bin/sh, and busybox httpd for its CMD.
build_httpd() {
    if have_image httpd:2 2; then log "httpd:2 present"; return 0; fi
    command -v htpasswd >/dev/null || die "htpasswd missing (install apache2-utils: engine.sh deps)"
    local ctx=$WORK/httpd
    mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/usr/local/apache2/htdocs" "$ctx/rootfs/tmp"
    copy_with_libs "$(command -v htpasswd)" "$ctx/rootfs" /usr/local/apache2/bin/htpasswd
    cp "$(static_busybox)" "$ctx/rootfs/bin/busybox"
    chmod 1777 "$ctx/rootfs/tmp"
    echo '<html><body><h1>It works!</h1></body></html>' >"$ctx/rootfs/usr/local/apache2/htdocs/index.html"
    cat >"$ctx/rootfs/usr/local/bin/httpd-foreground" <<'SH'
#!/bin/sh
# busybox httpd in the foreground; stop it cleanly on WINCH (the image's STOPSIGNAL:
# Apache's graceful stop), TERM or INT
httpd -f -p 80 -h /usr/local/apache2/htdocs &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid"; exit 0' WINCH TERM INT
wait "$pid"
SH
    chmod 755 "$ctx/rootfs/usr/local/bin/httpd-foreground"
    cat >"$ctx/Dockerfile" <<'DF'
# Stand-in for Docker Hub's httpd:2, built offline: Apache's htpasswd (Debian
# apache2-utils) on the image's PATH, busybox for the shell.
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
LABEL labgen.stand-in=2
ENV HTTPD_PREFIX=/usr/local/apache2
ENV PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /usr/local/apache2
EXPOSE 80
STOPSIGNAL SIGWINCH
CMD ["httpd-foreground"]
DF
    fix_mtimes "$ctx"
    dbuild -t httpd:2 "$ctx"
    log "built httpd:2"
}

# ---------------------------------------------------------------- nginx:alpine
build_nginx() {
    if have_image nginx:alpine; then log "nginx:alpine present"; return 0; fi
    local ctx=$WORK/nginx
    mkdir -p "$ctx/bin" "$ctx/html"
    cp "$(static_busybox)" "$ctx/bin/busybox"
    cat >"$ctx/html/index.html" <<'HTML'
<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>labgen offline stand-in (busybox httpd).</p></body></html>
HTML
    cat >"$ctx/docker-entrypoint.sh" <<'SH'
#!/bin/sh
# busybox httpd in the foreground; stop it cleanly on TERM/INT/QUIT
mkdir -p /var/log/nginx
httpd -f -p 80 -h /usr/share/nginx/html &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT QUIT
wait "$pid"
SH
    chmod 755 "$ctx/docker-entrypoint.sh"
    cat >"$ctx/Dockerfile" <<'DF'
# Stand-in for Docker Hub's nginx:alpine, built offline from busybox-static.
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /usr/sbin /usr/bin /tmp /etc /var/log/nginx && chmod 1777 /tmp \
 && echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd && echo 'root:x:0:' >/etc/group
COPY html/ /usr/share/nginx/html/
COPY docker-entrypoint.sh /docker-entrypoint.sh
EXPOSE 80
STOPSIGNAL SIGTERM
CMD ["/docker-entrypoint.sh"]
DF
    fix_mtimes "$ctx"
    dbuild -t nginx:alpine "$ctx"
    log "built nginx:alpine ($(docker image inspect -f '{{len .RootFS.Layers}}' nginx:alpine) layers)"
}

# ---------------------------------------------------------------- labgen/node
# node_rootfs_tarball SUITE: the cached rootfs of that suite's node, keyed by its recipe
node_rootfs_tarball() {
    local suite=$1 key
    key=$(printf '%s|%s|%s|%s|v2' "$suite" minbase "$(node_pkgs "$suite")" "$(dpkg --print-architecture)" | sha256sum | cut -c1-16)
    echo "$CACHE/node-rootfs-$suite-$key.tar.gz"
}

make_node_rootfs() {
    local suite=$1 tarball=$2 root=$WORK/rootfs pkgs
    pkgs=$(node_pkgs "$suite")
    command -v debootstrap >/dev/null || die "debootstrap missing: run engine.sh deps"
    mkdir -p "$CACHE/debs"
    log "debootstrap $suite minbase from $MIRROR (main namespace: package traffic)"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" "$suite" "$root" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb $SECURITY_MIRROR $suite-security main
SRC
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    log "chroot apt-get install $pkgs"
    # shellcheck disable=SC2086
    chroot "$root" /bin/sh -c "export DEBIAN_FRONTEND=noninteractive LC_ALL=C; \
        apt-get update -q && apt-get install -y -q --no-install-recommends $pkgs" \
        >"$WORK/chroot-apt.log" 2>&1 || { umount -l "$root/proc"; tail -n 30 "$WORK/chroot-apt.log" >&2; die "chroot apt-get failed"; }
    umount "$root/proc"
    chroot "$root" apt-get clean
    # This machine's bounding set lacks CAP_SYS_RESOURCE: raising a hard rlimit
    # fails, and Debian's /etc/init.d/docker (set -e) aborts on `ulimit -n
    # 1048576` and `ulimit -u|-p unlimited`. Neutralise those lines.
    sed -i 's/^\([[:space:]]*\)ulimit -\([nup]\)/\1: ulimit -\2/' "$root/etc/init.d/docker"
    rm -rf "$root/var/lib/apt/lists/"* "$root/usr/sbin/policy-rc.d" "$root/var/log/"*.log "$root/var/cache/apt/"*.bin
    : >"$root/etc/resolv.conf"
    echo labgen-node >"$root/etc/hostname"
    mkdir -p "$CACHE"
    tar --numeric-owner --xattrs -C "$root" -czf "$tarball.tmp" .
    mv -f "$tarball.tmp" "$tarball"
    # drop rootfs tarballs of other package lists
    find "$CACHE" -maxdepth 1 -name "node-rootfs-$suite-*.tar.gz" ! -path "$tarball" -delete
    rm -rf "$root"
    log "cached $tarball ($(du -h "$tarball" | cut -f1))"
}

# build_node SUITE: labgen/node:SUITE
build_node() {
    local suite=$1 tarball key
    [ -f "$NODE_TEMPLATE/Dockerfile" ] || die "missing $NODE_TEMPLATE/Dockerfile"
    key=$(template_key "$NODE_TEMPLATE")
    if have_image "labgen/node:$suite" "$key"; then log "labgen/node:$suite present"; return 0; fi
    tarball=$(node_rootfs_tarball "$suite")
    if [ "$FORCE" -eq 1 ] || ! docker image inspect "labgen/node-base:$suite" >/dev/null 2>&1; then
        cache_lock
        if [ ! -s "$tarball" ]; then
            timed "node rootfs $suite (debootstrap + chroot apt)" make_node_rootfs "$suite" "$tarball"
        else
            log "using cached $tarball"
        fi
        cache_unlock
        timed "docker import node-base:$suite" docker import \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -c 'CMD ["/bin/bash"]' \
            "$tarball" "labgen/node-base:$suite" >/dev/null
    fi
    dbuild --build-arg "BASE=labgen/node-base:$suite" --label "labgen.stand-in=$key" \
        -t "labgen/node:$suite" "$NODE_TEMPLATE"
    log "built labgen/node:$suite"
}

# ---------------------------------------------------------------- labgen/labbox
# The box of a hosted class: the node rootfs plus sshd, a registry (the lab's
# mirror inside the box) and dnsmasq, installed in a chroot of the cached node
# rootfs; the node image, the hub's storage and the compose plugin go in as files.
labbox_rootfs_tarball() {
    local key
    key=$(printf '%s|%s|v1' "$(node_rootfs_tarball "$LABBOX_SUITE")" "$LABBOX_PKGS" | sha256sum | cut -c1-16)
    echo "$CACHE/labbox-rootfs-$LABBOX_SUITE-$key.tar.gz"
}

make_labbox_rootfs() {
    local tarball=$1 root=$WORK/boxroot node
    node=$(node_rootfs_tarball "$LABBOX_SUITE")
    [ -s "$node" ] || die "missing $node: run '$0 build' first"
    mkdir -p "$root"
    tar --numeric-owner -xzf "$node" -C "$root"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    log "chroot apt-get install $LABBOX_PKGS"
    # shellcheck disable=SC2086
    chroot "$root" /bin/sh -c "export DEBIAN_FRONTEND=noninteractive LC_ALL=C; \
        apt-get update -q && apt-get install -y -q --no-install-recommends $LABBOX_PKGS" \
        >"$WORK/chroot-apt.log" 2>&1 || { umount -l "$root/proc"; tail -n 30 "$WORK/chroot-apt.log" >&2; die "chroot apt-get failed"; }
    umount "$root/proc"
    chroot "$root" apt-get clean
    rm -rf "$root/var/lib/apt/lists/"* "$root/usr/sbin/policy-rc.d" "$root/var/log/"*.log "$root/var/cache/apt/"*.bin "$root/etc/ssh/ssh_host_"*
    : >"$root/etc/resolv.conf"
    tar --numeric-owner --xattrs -C "$root" -czf "$tarball.tmp" .
    mv -f "$tarball.tmp" "$tarball"
    find "$CACHE" -maxdepth 1 -name "labbox-rootfs-$LABBOX_SUITE-*.tar.gz" ! -path "$tarball" -delete
    rm -rf "$root"
    log "cached $tarball ($(du -h "$tarball" | cut -f1))"
}

# build_labbox SUITE: labgen/labbox:SUITE, a box whose nodes run labgen/node:SUITE
build_labbox() {
    local suite=$1 tarball ctx=$WORK/labbox-$1 plugin key
    # The box carries the node image and the hub's images: a changed template or stand-in
    # rebuilds it.
    key=$(printf '%s|%s|%s' "$(template_key "$NODE_TEMPLATE")" "$(template_key "$LABBOX_TEMPLATE")" \
        "$(cat "$IMG_CACHE"/.*.id 2>/dev/null)" | sha256sum | cut -c1-16)
    if have_image "labgen/labbox:$suite" "$key"; then log "labgen/labbox:$suite present"; return 0; fi
    docker image inspect "labgen/node:$suite" >/dev/null 2>&1 || die "labgen/node:$suite missing: run '$0 build $suite' first"
    tarball=$(labbox_rootfs_tarball)
    if [ "$FORCE" -eq 1 ] || ! docker image inspect labgen/labbox-base:$LABBOX_SUITE >/dev/null 2>&1; then
        cache_lock
        [ -s "$tarball" ] || timed "labbox rootfs (chroot apt)" make_labbox_rootfs "$tarball"
        cache_unlock
        timed "docker import labbox-base" docker import \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            "$tarball" labgen/labbox-base:$LABBOX_SUITE >/dev/null
    fi
    plugin=$(docker info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}')
    [ -n "$plugin" ] || die "no docker compose plugin: run engine.sh deps"
    cp -r "$LABBOX_TEMPLATE" "$ctx"
    mkdir -p "$ctx/rootfs/usr/libexec/docker/cli-plugins" "$ctx/rootfs/opt/labbox/images" "$ctx/rootfs/etc/labbox/runtimes"
    cp "$(readlink -f "$plugin")" "$ctx/rootfs/usr/libexec/docker/cli-plugins/docker-compose"
    docker save -o "$ctx/rootfs/opt/labbox/images/node.tar" "labgen/node:$suite"
    cp -a "$HUB_STORAGE" "$ctx/rootfs/opt/labbox/hub"
    fix_mtimes "$ctx"
    timed "docker build labbox stage" dbuild --build-arg BASE=labgen/labbox-base:$LABBOX_SUITE -t "labgen/labbox-stage:$suite" "$ctx"
    # A box's engine would spend most of its start in `docker load` of the node image;
    # load it once here and ship the engine's data root as a tarball the box unpacks.
    timed "labbox engine seed" seed_labbox "$suite" "$ctx/rootfs/opt/labbox/docker-seed.tar"
    rm -f "$ctx/rootfs/opt/labbox/images/node.tar"
    timed "docker build labbox" dbuild --build-arg BASE=labgen/labbox-base:$LABBOX_SUITE \
        --label "labgen.stand-in=$key" -t "labgen/labbox:$suite" "$ctx"
    docker rmi "labgen/labbox-stage:$suite" >/dev/null
    log "built labgen/labbox:$suite"
}

# seed_labbox SUITE TAR: the data root of a box engine that has loaded the node image
seed_labbox() {
    local suite=$1 out=$2 volume=labgen-labbox-seed
    docker volume rm -f "$volume" >/dev/null
    # shellcheck disable=SC2016
    docker run --rm --privileged --runtime labgen-runc -v "$volume:/var/lib/docker" \
        --entrypoint /bin/sh "labgen/labbox-stage:$suite" -c '
            dockerd >/dev/null 2>&1 & pid=$!
            until docker info >/dev/null 2>&1; do sleep 0.3; done
            docker load -q -i /opt/labbox/images/node.tar >&2
            kill "$pid"; wait "$pid" || true
            # No network state: each box engine picks a docker0 subnet clear of its own
            # eth0 (a copied docker0 can be the very subnet of a box network: no route out).
            rm -rf /var/lib/docker/engine-id /var/lib/docker/network
            tar -C /var/lib/docker --xattrs --numeric-owner -cf - .' >"$out.tmp" \
        || { docker volume rm -f "$volume" >/dev/null; die "seeding the box engine failed"; }
    docker volume rm -f "$volume" >/dev/null
    mv -f "$out.tmp" "$out"
}

# ---------------------------------------------------------------- hub + tarballs
# stand_in IMAGE FILE BUILD: IMAGE in this engine, saved as IMG_CACHE/FILE. Every
# instance runs the same image: the first to meet a recipe builds and saves it, the
# others load the tarball. (Each engine's build has its own image ID; rewriting the
# tarball would change what the hubs serve and the key of every instance's lab box.)
# The stamp holds the recipe's key (the build function's text) and the saved image ID.
stand_in() {
    local img=$1 file=$2 build=$3 key stamp=$IMG_CACHE/.$1.id id
    key=$(declare -f "$build" | sha256sum | cut -c1-16)
    cache_lock
    mkdir -p "$IMG_CACHE"
    if [ "$FORCE" -eq 0 ] && [ -s "$IMG_CACHE/$file" ] && [ "$(cut -d' ' -f1 "$stamp" 2>/dev/null)" = "$key" ]; then
        id=$(cut -d' ' -f2 "$stamp")
        if [ "$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null)" = "$id" ]; then
            log "$img present"
        else
            docker load -q -i "$IMG_CACHE/$file" >/dev/null
            log "loaded $img from $IMG_CACHE/$file"
        fi
    else
        # a recipe the cache has not seen: this engine's image may predate it
        forced "$build"
        id=$(docker image inspect -f '{{.Id}}' "$img")
        docker save -o "$IMG_CACHE/$file.tmp" "$img"
        mv -f "$IMG_CACHE/$file.tmp" "$IMG_CACHE/$file"
        echo "$key $id" >"$stamp.tmp"
        mv -f "$stamp.tmp" "$stamp"
        log "saved $IMG_CACHE/$file"
    fi
    cache_unlock
}

forced() {
    local FORCE=1
    "$@"
}

# publish IMAGE FILE: the cached tarball in this instance's hub, unless it holds it already
publish() {
    local name=$1 file=$2 want have
    want=$(skopeo inspect --raw "docker-archive:$IMG_CACHE/$file" 2>/dev/null | jq -r '.config.digest' || true)
    have=$(ip netns exec "$NS" skopeo inspect --raw --tls-verify=false "docker://$HUB/library/$name" 2>/dev/null | jq -r '.config.digest' || true)
    if [ "$FORCE" -eq 0 ] && [ -n "$want" ] && [ "$want" = "$have" ]; then
        log "hub already has library/$name"
        return 0
    fi
    ip netns exec "$NS" skopeo copy -q --dest-tls-verify=false \
        "docker-archive:$IMG_CACHE/$file" "docker://$HUB/library/$name"
    log "pushed library/$name to the hub"
}

push_all() {
    ip netns list | awk '{print $1}' | grep -qx "$NS" || die "netns $NS missing: run engine.sh up"
    publish registry:2 registry-2.tar
    publish nginx:alpine nginx-alpine.tar
    publish httpd:2 httpd-2.tar
}

cmd_build() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    if [ "${1:-}" = --force ]; then FORCE=1; shift; fi
    local t0=$SECONDS suites=${*:-$NODE_SUITES} suite
    for suite in $suites; do node_pkgs "$suite" >/dev/null; done
    docker info >/dev/null 2>&1 || die "no engine at $DOCKER_HOST: run engine.sh up"
    timed "registry:2" stand_in registry:2 registry-2.tar build_registry
    timed "nginx:alpine" stand_in nginx:alpine nginx-alpine.tar build_nginx
    timed "httpd:2" stand_in httpd:2 httpd-2.tar build_httpd
    for suite in $suites; do timed "labgen/node:$suite" build_node "$suite"; done
    timed "hub push + tarballs" push_all
    log "TIMING total: $((SECONDS - t0))s"
}

cmd_labbox() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    if [ "${1:-}" = --force ]; then FORCE=1; shift; fi
    local suite=${1:-trixie}
    node_pkgs "$suite" >/dev/null
    docker info >/dev/null 2>&1 || die "no engine at $DOCKER_HOST: run engine.sh up"
    timed "labgen/labbox:$suite" build_labbox "$suite"
}

main() {
    if [ -z "${DOCKER_HOST:-}" ]; then
        eval "$("$HERE/engine.sh" env)"
    fi
    export DOCKER_HOST
    export DOCKER_BUILDKIT=0
    trap cleanup EXIT
    WORK=$(mktemp -d /tmp/labgen-images.XXXXXX)
    case "${1:-}" in
        build) shift; cmd_build "$@" ;;
        labbox) shift; cmd_labbox "$@" ;;
        *) echo "usage: $0 build [--force] [SUITE...] | labbox [--force] [SUITE]" >&2; exit 2 ;;
    esac
}

# sourced by the tests for its functions; run as a script otherwise
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
