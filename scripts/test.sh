#!/usr/bin/env bash
# Second command: every test. Installs what it needs first; lint, the viewer's unit tests
# (node's own runner), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build-frontend.sh   # the viewer bundle (skipped when unchanged)
scripts/browser-deps.sh     # Debian's chromium for tests/browser (skipped when present)
scripts/deploy-deps.sh      # Debian's nginx, openssl, curl for tests/deploy (skipped when present)
scripts/pacs-deps.sh        # Debian's Orthanc + DICOMweb plugin for tests/pacs (skipped when present)
.venv/bin/ruff check .
.venv/bin/ruff format --check .
node --test frontend/tests/   # the viewer's pure state and sampling functions
exec .venv/bin/python -m pytest -q "$@"
