#!/bin/sh
# PID 1 of a lab node: run the lab's provisioning for this host (mounted at
# /lab), then wait. On SIGTERM stop Docker first, so `docker compose down`
# leaves no half-written engine state behind.
set -eu
trap 'service docker stop >/dev/null 2>&1 || true; exit 0' TERM INT
if [ -x "/lab/provision/${LABGEN_HOST:?LABGEN_HOST is not set}.sh" ]; then
    "/lab/provision/${LABGEN_HOST}.sh"
else
    service docker start
fi
sleep infinity &
wait $!
