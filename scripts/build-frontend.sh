#!/usr/bin/env bash
# Builds the viewer (frontend/, Cornerstone3D + Vite) into frontend/dist, which Django serves as
# static files under viewer/. Idempotent and quick when nothing changed: `npm ci` runs only when
# package-lock.json changed, the build only when the lockfile, the config or src/ changed (a
# hash of them is kept in dist/.build-stamp). FORCE=1 rebuilds anyway.
set -euo pipefail
cd "$(dirname "$0")/../frontend"
if ! command -v npm >/dev/null; then
  echo "build-frontend: npm not found; install Node.js 20+ (with npm) to build the viewer" >&2
  exit 1
fi
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-sha256 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.lock-sha256
fi
want=$( (sha256sum package.json package-lock.json vite.config.js; find src -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-0}" != 1 ] && [ -f dist/manifest.json ] && [ "$(cat dist/.build-stamp 2>/dev/null)" = "$want" ]; then
  exit 0
fi
# The codecs' emscripten glue names node's fs/path for a code path browsers never take.
npx vite build --logLevel warn 2>&1 | grep -v 'has been externalized for browser compatibility' || true
test -f dist/manifest.json || { echo "build-frontend: vite build produced no dist/manifest.json" >&2; exit 1; }
echo "$want" > dist/.build-stamp
echo "build-frontend: viewer built into frontend/dist"
