#!/usr/bin/env bash
# One Celery worker: `deploy/worker.sh cpu-1` serves queue cpu as node cpu-1@<host>.
# Used by the systemd unit fusionscreen-worker@.service, the container and deploy/cluster.sh.
# Solo pool: one job at a time in the worker process itself (the model is loaded once per job).
set -euo pipefail
instance=${1:?usage: deploy/worker.sh QUEUE[-N]   (QUEUE is cpu or gpu)}
queue=${instance%%-*}
case $queue in
  cpu | gpu) ;;
  *) echo "deploy/worker.sh: the queue is cpu or gpu, not '$queue'" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
exec "${VENV:-.venv}/bin/celery" -A webapp worker -Q "$queue" --pool solo -n "$instance@$(hostname)" \
  --loglevel "${LOG_LEVEL:-INFO}" --without-gossip --without-mingle
