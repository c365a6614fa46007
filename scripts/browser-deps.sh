#!/usr/bin/env bash
# The browser the end-to-end tests drive: Debian's chromium (never a downloaded one). Installs
# it with apt-get when /usr/bin/chromium is missing; does nothing when it is there.
set -euo pipefail
browser=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$browser" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "browser-deps: $browser is missing; as root run: apt-get install -y chromium" >&2
  exit 1
fi
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$browser" --version
