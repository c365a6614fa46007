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
RECEIVER=""
trap 'kill "$WORKER" $RECEIVER 2>/dev/null; wait "$WORKER" $RECEIVER 2>/dev/null || true' EXIT
echo "Celery worker started (log: $LOGS/worker.log)"
.venv/bin/python manage.py demo "$@"
# The DICOM receiver (C-STORE): the demo maps the calling AE title DEMO-SCANNER to its screening cohort.
.venv/bin/python manage.py dicom_receiver >"$LOGS/dicom-receiver.log" 2>&1 &
RECEIVER=$!
echo
echo "FusionScreen is at http://127.0.0.1:$PORT/  (API docs: http://127.0.0.1:$PORT/api/docs/)"
echo "Studies in the viewer:"
.venv/bin/python manage.py viewer_links --base-url "http://127.0.0.1:$PORT" --limit 3
DICOM_AET=${DICOM_AE_TITLE:-FUSIONSCREEN}; DICOM_AT=${DICOM_BIND:-127.0.0.1}:${DICOM_PORT:-11112}
echo "DICOM receiver: $DICOM_AET at $DICOM_AT (log: $LOGS/dicom-receiver.log). Push a study as the demo scanner:"
echo "  .venv/bin/python -m pynetdicom storescu ${DICOM_AT%:*} ${DICOM_AT##*:} -aet DEMO-SCANNER -aec $DICOM_AET -r <folder of CT files>"
echo "The worker and the receiver keep running beside it; Ctrl-C stops them all."
.venv/bin/python manage.py runserver --noreload "127.0.0.1:$PORT"
