#!/usr/bin/env bash
# Installs Debian packages without starting any service they ship (a policy-rc.d that exits 101
# stops postinst scripts from launching dockerd, containerd, redis or the registry), and fetches
# the package lists first when this machine has none.
# Usage: scripts/apt-install.sh PACKAGE...   (as root)
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "apt-install: must run as root" >&2; exit 1; }

added=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  added=1
fi
trap '[ -z "$added" ] || rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
# A fresh machine may have no package lists (or stale ones): refresh before installing.
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "apt-install: installed ${missing[*]}"
