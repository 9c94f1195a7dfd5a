#!/usr/bin/env bash
# The main job: create the default lab, bring it up, replay and check every step of
# the tutorial, show the report, and take the lab down.
#
# With a Docker engine (and Docker Hub) at hand it uses that engine as it is. On a
# machine with no engine running (a fresh CI-like machine, root, offline) it starts
# labgen's sandbox instead: a private dockerd in network namespace labgen-sbx, the
# images built locally, and a local hub the lab uses as its Docker Hub mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

labgen=.venv/bin/labgen
work=build/demo
mkdir -p "$work"

if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    echo "demo: using the Docker engine at ${DOCKER_HOST:-the default socket}"
    "$labgen" create --out "$work/registry-lab" --force
    exec "$labgen" run "$work/registry-lab"
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: no Docker engine answers, and starting labgen's sandboxed engine needs root; run: sudo make demo" >&2
    exit 2
fi
echo "demo: no Docker engine answers; starting labgen's sandboxed engine (offline images, local hub)"
bash sandbox/engine.sh deps
bash sandbox/engine.sh up
trap 'bash sandbox/engine.sh down' EXIT
eval "$(bash sandbox/engine.sh env)"
bash sandbox/images.sh build
"$labgen" create --mirror http://192.168.56.1:5555 --out "$work/registry-lab" --force
"$labgen" run "$work/registry-lab" --runtime labgen-runc
