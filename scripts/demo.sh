#!/usr/bin/env bash
# First command: a fresh machine to the running FusionScreen site with demo data.
#   pinned dependencies -> migrate -> a Celery worker in the background -> `manage.py demo`
#   (demo users; synthetic normal, screening and labelled calibration cohorts uploaded through
#   the ingest; a briefly trained demo model; detection and calibration run by the worker)
#   -> runserver on http://127.0.0.1:$PORT/ with the worker still running. Ctrl-C stops both.
# Embedded default unless DATABASE_URL / CELERY_BROKER_URL are set. Password: DEMO_PASSWORD.
# `scripts/demo.sh detector` runs the detection engine's own demo instead (python -m detector demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ "${1:-}" = "detector" ]; then
  shift
  exec .venv/bin/python -m detector demo --out "${DEMO_DIR:-var/demo}" "$@"
fi
scripts/build-frontend.sh   # the viewer's Cornerstone3D bundle (npm ci + vite build; skipped when unchanged)
PORT=${PORT:-8000}
# The demo's admin signs in with the password alone, so a newcomer needs no authenticator app;
# a real site keeps the default (two-factor sign-in required for admins: docs/security.md).
export TWO_FACTOR_FOR_ADMINS="${TWO_FACTOR_FOR_ADMINS:-0}"
LOGS="${FUSIONSCREEN_VAR_DIR:-var}/demo-web"
mkdir -p "$LOGS"
.venv/bin/python manage.py migrate --noinput
# -B: Celery beat inside this (the site's only) worker, for the periodic sweep of jobs a lost
# worker left running (the file-system broker never redelivers them).
.venv/bin/celery -A webapp worker -B -Q cpu,gpu --pool solo -n demo@%h --loglevel INFO >"$LOGS/worker.log" 2>&1 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null; wait "$WORKER" 2>/dev/null || true' EXIT
echo "Celery worker started (log: $LOGS/worker.log)"
.venv/bin/python manage.py demo "$@"
echo
echo "FusionScreen is at http://127.0.0.1:$PORT/  (API docs: http://127.0.0.1:$PORT/api/docs/)"
echo "Studies in the viewer:"
.venv/bin/python manage.py viewer_links --base-url "http://127.0.0.1:$PORT" --limit 3
echo "The worker keeps running beside it; Ctrl-C stops both."
.venv/bin/python manage.py runserver --noreload "127.0.0.1:$PORT"
