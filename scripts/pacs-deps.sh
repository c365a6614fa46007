#!/usr/bin/env bash
# The real PACS the interoperability tests talk to: Debian's Orthanc with its DICOMweb plugin
# (tests/pacs start their own instance on loopback ports). Installs with apt-get what is missing.
set -euo pipefail
missing=()
[ -x /usr/sbin/Orthanc ] || missing+=(orthanc)
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing+=(orthanc-dicomweb)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "pacs-deps: missing ${missing[*]}; as root run: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package may start its own Orthanc on 4242/8042; the tests run their own instances.
($SUDO systemctl disable --now orthanc 2>/dev/null || $SUDO service orthanc stop 2>/dev/null) || true
echo "pacs-deps: installed ${missing[*]}"
