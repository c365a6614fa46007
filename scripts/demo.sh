#!/usr/bin/env bash
# First command: a fresh machine to a running detector demo. Installs the pinned dependencies,
# generates synthetic LDCT cohorts, trains a model on 24 normals (CPU: about 20 minutes),
# evaluates it on 20 unseen normals + 20 lesions, and prints where the pictures are.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m detector demo --out "${DEMO_DIR:-var/demo}" "$@"
