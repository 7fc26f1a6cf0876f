#!/usr/bin/env bash
# The README's test command (`npm run test:all`), and CI's (.ci/run runs exactly this): installs
# what the tests need on a fresh Debian 12 machine with Node.js 20 and Go >= 1.20, then builds
# and runs the whole suite. Run as root (apt, dockerd, network namespaces). Each step is a no-op
# when its result is already there, so a second run goes straight to the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the test suite uses:
#   gcc g++ make python3-dev python3-venv libssl-dev  build zstd-napi's addon and the real PyRabin
#   tar                                                 tar-aware chunking and docker-save tests
#   docker-registry skopeo                              the reference registry and a real client (e2e)
#   docker.io containerd podman curl iproute2 util-linux  real clients pulling in a loopback-only netns
#   apache2-utils                                       htpasswd, for an upstream registry with basic auth
#   umoci                                               a real image tool writing pgzip layers (the gzip corpus, e2e)
#   redis-server                                        real Redis and Redis Cluster stores
#   openjdk-17-jre-headless maven                       a real Apache Cassandra from Maven Central's jars
#   openssl                                             certificates for the TLS and mutual-TLS tests
#   systemd                                             systemd-analyze verify on the unit (test/deploy)
#   chromium                                            the headless browser playwright-core drives on the web page (test/ui)
scripts/apt-install.sh gcc g++ make python3-dev python3-venv libssl-dev tar docker-registry skopeo \
  docker.io containerd podman curl iproute2 util-linux apache2-utils umoci redis-server \
  openjdk-17-jre-headless maven openssl systemd chromium

# The OCI conformance suite and the gzip test vectors are built with the machine's Go toolchain
# from the Go module proxy (Debian 12's golang-go, 1.19, is too old for them).
go_ok() { command -v go >/dev/null && go version | grep -Eq 'go1\.(2[0-9]|[3-9][0-9])'; }
go_ok || { echo "test-all: Go >= 1.20 is needed on the PATH (the OCI conformance suite); found: $(go version 2>&1 || echo none)" >&2; exit 1; }

# The real PyRabin from PyPI, which the Rabin chunker is checked against cut for cut.
scripts/pyrabin/install.sh

# Apache Cassandra 5.0 and its dependencies from Maven Central (checked against a lock file, cached).
scripts/cassandra/fetch.sh >/dev/null

npm ci --no-audit --no-fund
npm test
