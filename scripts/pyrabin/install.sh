#!/usr/bin/env bash
# Installs the real PyRabin (the `rabin` C extension that docker_dedup chunked with) from PyPI
# into a virtualenv, so that test/chunking/rabin.test.ts can compare our port cut for cut; and
# the `xxhash` binding (whose xxh64 hexdigest named docker_dedup's chunks with storage_algorithm
# xxhash), so that test/import/xxhash64.test.ts can check our TypeScript xxh64 against it.
#
#   venv:    ${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}/pyrabin
#   python:  $PYTHON if set, else python3 (3.11 tested; 3.12, 3.13 and Debian 12's python3 also build)
#   version: PyRabin 0.6, the newest on PyPI and the one docker_dedup used; sdist only (no wheels).
#            xxhash 3.5.0, from its wheels (CPython 3.7 to 3.13). xxh64 gives the same digests in
#            every version, so it stands for the Python 2.7 binding the seed ran.
#
# Needs a C compiler (gcc), the OpenSSL headers and libcrypto (Debian: libssl-dev; the extension
# includes <openssl/sha.h> and links -lcrypto), Python's headers (Debian: python3-dev, for
# /usr/bin/python3; pyenv builds ship them) and the venv module (Debian: python3-venv). This
# script does not apt-get anything: it checks for them and says what is missing.
#
# The 0.6 sdist builds as is on Python 3 (only warnings: deprecated SHA1_* since OpenSSL 3, format
# strings). One known Python 3.10+ defect that does not concern us: `rabin.Rabin().update()` raises
# "SystemError: PY_SSIZE_T_CLEAN macro must be defined for '#' formats"; the module functions
# (set_*_block_size, get_file_fingerprints) work, and they are what docker_dedup and cuts.py use.
# The C code reads bytes as plain `char`, which is signed on x86-64 (what docker_dedup ran on) but
# unsigned on ARM: on an ARM machine the real package cuts differently from our (x86-64) port.
#
# Idempotent: installs only what the venv's python does not already import at the pinned version.
set -euo pipefail

PYRABIN_VERSION=0.6
XXHASH_VERSION=3.5.0
TOOLS_DIR="${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}"
VENV="$TOOLS_DIR/pyrabin"
PY="${PYTHON:-python3}"

# installed DISTRIBUTION MODULE VERSION: the venv's python imports MODULE, from DISTRIBUTION==VERSION.
installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$@" >/dev/null 2>&1 <<'EOF'
import importlib, importlib.metadata, sys
distribution, module, version = sys.argv[1:4]
importlib.import_module(module)
sys.exit(0 if importlib.metadata.version(distribution) == version else 1)
EOF
}

install_xxhash() {
  if installed xxhash xxhash "$XXHASH_VERSION"; then
    echo "pyrabin: xxhash $XXHASH_VERSION already installed in $VENV"
    return
  fi
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input "xxhash==$XXHASH_VERSION"
  if ! installed xxhash xxhash "$XXHASH_VERSION"; then
    echo "pyrabin: xxhash installed but '$VENV/bin/python -c \"import xxhash\"' fails" >&2
    exit 1
  fi
  echo "pyrabin: xxhash $XXHASH_VERSION installed in $VENV"
}

if installed PyRabin rabin "$PYRABIN_VERSION"; then
  echo "pyrabin: PyRabin $PYRABIN_VERSION already installed in $VENV"
  install_xxhash
  exit 0
fi

missing=()
CC_BIN="${CC:-gcc}"
if ! command -v "$CC_BIN" >/dev/null 2>&1; then
  missing+=("a C compiler ($CC_BIN; Debian package: gcc)")
else
  probe_dir="$(mktemp -d)"
  trap 'rm -rf "$probe_dir"' EXIT
  printf '#include <openssl/sha.h>\nint main(void){unsigned char d[SHA_DIGEST_LENGTH];SHA1((const unsigned char*)"",0,d);return d[0]&0;}\n' >"$probe_dir/t.c"
  if ! "$CC_BIN" "$probe_dir/t.c" -o "$probe_dir/t" -lcrypto >"$probe_dir/log" 2>&1; then
    missing+=("OpenSSL headers and libcrypto (<openssl/sha.h>, -lcrypto; Debian package: libssl-dev)")
  fi
fi
if ! command -v "$PY" >/dev/null 2>&1; then
  missing+=("a Python 3 interpreter ($PY; Debian package: python3)")
else
  if ! "$PY" -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' >/dev/null 2>&1; then
    missing+=("Python headers for $PY (Python.h; Debian package: python3-dev)")
  fi
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=("the venv module with ensurepip for $PY (Debian package: python3-venv)")
  fi
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "pyrabin: cannot build PyRabin $PYRABIN_VERSION, missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  echo "On Debian: apt-get install -y gcc libssl-dev python3-dev python3-venv" >&2
  exit 1
fi

echo "pyrabin: creating $VENV with $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
rm -rf "$VENV"
mkdir -p "$TOOLS_DIR"
"$PY" -m venv "$VENV"
# The sdist's setup.py imports distutils: pip builds it in an isolated environment with a current
# setuptools, whose distutils shim also serves Python 3.12+ (where the standard library has none).
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --no-binary PyRabin \
  "PyRabin==$PYRABIN_VERSION"

if ! installed PyRabin rabin "$PYRABIN_VERSION"; then
  echo "pyrabin: PyRabin installed but '$VENV/bin/python -c \"import rabin\"' fails" >&2
  exit 1
fi
echo "pyrabin: PyRabin $PYRABIN_VERSION installed in $VENV"
install_xxhash
