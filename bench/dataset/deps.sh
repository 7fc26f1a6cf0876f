#!/usr/bin/env bash
# Install the Debian packages the benchmark dataset builder and the peer baselines need:
#   mmdebstrap umoci skopeo jq  -> bench/dataset/build.sh
#   casync zstd                 -> bench/peers/casync.sh
# Usage: bench/dataset/deps.sh        (root; Debian bookworm)
# No service is started: package postinst scripts are stopped from starting daemons by a
# policy-rc.d that exits 101 (added only for the duration of this script if none exists).
set -euo pipefail
PKGS=(mmdebstrap umoci skopeo jq casync zstd)
[ "$(id -u)" -eq 0 ] || { echo "deps.sh: must run as root" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "deps.sh: apt-get not found (Debian needed)" >&2; exit 1; }

added=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; added=1
fi
trap '[ -z "$added" ] || rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists at all; apt-get install would then find nothing.
if ! apt-cache show mmdebstrap >/dev/null 2>&1; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
fi
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
for b in mmdebstrap umoci skopeo jq casync zstd; do
  command -v "$b" >/dev/null || { echo "deps.sh: $b still missing after install" >&2; exit 1; }
done
echo "deps.sh: installed ${PKGS[*]}"
