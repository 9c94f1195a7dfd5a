#!/usr/bin/env bash
# The lab box image of a hosted class, for the registry a Kubernetes cluster pulls it from,
# built from the same files as the local box (templates/labbox/).
#
# Usage: scripts/labbox-image.sh REGISTRY [SUITE]      (make labbox-image REGISTRY=... [SUITE=...])
#   REGISTRY  e.g. registry.example.org/labgen: the image is REGISTRY/labbox:SUITE, the
#             name a class with `hosted.kubernetes.registry: REGISTRY` pulls
#   SUITE     the node image's Debian suite: trixie (os debian-13, default) or bookworm
# Environment:
#   BASE      the box's base image [debian:bookworm-slim; its packages come from apt]
#   HUB_DIR   a registry storage folder holding registry:2, nginx:alpine and httpd:2 (offline);
#             without it they are pulled from Docker Hub into a temporary registry:2
#   PUSH=1    push the image when it is built (docker login to REGISTRY first)
# Needs docker with the compose v2 plugin, and the node image labgen/node:SUITE (made by
# `docker compose build` in a lab folder of that os, or sandbox/images.sh offline).
#
# The box carries the hub for its lab's mirror: its pod may send nothing off the cluster
# (the class's NetworkPolicy), so the lab must pull from the box (`lab: {mirror:
# http://192.168.56.1:5555}` in the class spec).
set -euo pipefail

die() { printf 'labbox-image: %s\n' "$*" >&2; exit 2; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $0 REGISTRY [SUITE]"; fi
registry=$1
suite=${2:-trixie}
[[ "$registry" =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$ ]] \
    || die "REGISTRY $registry is not a registry and path such as registry.example.org/labgen"
case "$suite" in bookworm | trixie) ;; *) die "SUITE $suite: use trixie or bookworm" ;; esac
image=$registry/labbox:$suite
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

docker image inspect "labgen/node:$suite" >/dev/null 2>&1 \
    || die "no image labgen/node:$suite; run \`docker compose build\` in a lab folder of that os first"
plugin=$(docker info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}')
[ -n "$plugin" ] || die "docker has no compose plugin; install docker-compose-plugin (compose v2)"

ctx=$(mktemp -d)
hub_container=""
cleanup() {
    [ -z "$hub_container" ] || docker rm --force --volumes "$hub_container" >/dev/null 2>&1 || true
    rm -rf "$ctx"
}
trap cleanup EXIT

cp -r "$here/templates/labbox/." "$ctx"
mkdir -p "$ctx/rootfs/usr/libexec/docker/cli-plugins" "$ctx/rootfs/opt/labbox/images" "$ctx/rootfs/etc/labbox/runtimes"
cp "$(readlink -f "$plugin")" "$ctx/rootfs/usr/libexec/docker/cli-plugins/docker-compose"
# The box's engine loads the node image at its first start.
docker save -o "$ctx/rootfs/opt/labbox/images/node.tar" "labgen/node:$suite"

if [ -n "${HUB_DIR:-}" ]; then
    [ -d "$HUB_DIR/docker" ] || die "HUB_DIR $HUB_DIR is not a registry storage folder (no docker/ in it)"
    cp -a "$HUB_DIR" "$ctx/rootfs/opt/labbox/hub"
else
    mkdir -p "$ctx/rootfs/opt/labbox/hub"
    hub_container=$(docker run --detach --publish 127.0.0.1::5000 \
        --volume "$ctx/rootfs/opt/labbox/hub:/var/lib/registry" registry:2)
    port=$(docker port "$hub_container" 5000/tcp | head -n 1 | sed 's/.*://')
    for name in registry:2 nginx:alpine httpd:2; do
        docker pull --quiet "$name" >/dev/null
        docker tag "$name" "127.0.0.1:$port/library/$name"
        docker push --quiet "127.0.0.1:$port/library/$name" >/dev/null
        docker rmi "127.0.0.1:$port/library/$name" >/dev/null
    done
    docker rm --force --volumes "$hub_container" >/dev/null
    hub_container=""
fi

docker build --quiet --build-arg "BASE=${BASE:-debian:bookworm-slim}" --tag "$image" "$ctx" >/dev/null
echo "built $image"
if [ "${PUSH:-0}" = 1 ]; then
    docker push --quiet "$image" >/dev/null
    echo "pushed $image"
fi
