#!/usr/bin/env bash
# Regenerate the committed fidelity matrix (docs/fidelity-matrix.md and .json) from real
# runs on labgen's sandboxed engine (root, offline images, local hub as the labs' mirror).
# LABGEN_SANDBOX=NAME picks the sandbox instance; one that is already up is left up.
# Extra arguments go to `labgen matrix` (e.g. --only part1-debian12-docker --out FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "matrix: the sandboxed engine needs root; run: sudo make matrix" >&2
    exit 2
fi
if ! bash sandbox/engine.sh status >/dev/null 2>&1; then
    bash sandbox/engine.sh deps
    bash sandbox/engine.sh up
    trap 'bash sandbox/engine.sh down' EXIT
fi
eval "$(bash sandbox/engine.sh env)"
bash sandbox/images.sh build
.venv/bin/labgen matrix --mirror http://192.168.56.1:5555 --runtime labgen-runc "$@"
