#!/usr/bin/env bash
# What the deploy tests run besides Python: Debian's nginx (the loopback cluster's reverse
# proxy), openssl (its certificate) and curl. Installs with apt-get what is missing.
set -euo pipefail
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "deploy-deps: missing ${missing[*]}; as root run: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package starts its own nginx on port 80; the cluster runs its own instance.
if [[ " ${missing[*]} " == *" nginx-light "* ]]; then
  ($SUDO systemctl disable --now nginx 2>/dev/null || $SUDO service nginx stop 2>/dev/null || $SUDO nginx -s quit 2>/dev/null) || true
fi
echo "deploy-deps: installed ${missing[*]}"
