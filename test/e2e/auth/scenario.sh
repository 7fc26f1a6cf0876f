#!/usr/bin/env bash
# Real clients against `docker-dedup serve` with auth on: first HTTP basic (--htpasswd, port
# 5000), then bearer tokens from the built-in token service (--token-*, port 5001, the realm at
# /auth/token), each with the same users (alice, bob), policy and client steps: skopeo
# (--creds/--src-creds/--dest-creds), dockerd (docker login, pull, push), podman (--creds) and
# containerd's ctr (a hosts.toml, --user), curl for the exact answers.
# Run by test/e2e/auth.test.ts, which builds the OCI layout first and checks the outputs after.
#
# Must run as root inside fresh network, PID and mount namespaces holding only `lo`, e.g.
#   unshare --net --pid --fork --mount-proc --kill-child=SIGTERM bash scenario.sh
#
# Environment: WORK (empty scratch dir), LAYOUT (OCI layout with refs app and tools),
#   NODE (node binary), CLI (docker-dedup's dist/src/cli/main.js).
# Writes: WORK/results.tsv, WORK/out/ID.{out,err} (see ../clients/lib.sh), WORK/serve.log (both
#   registries' stderr with their access logs, one after the other). Steps that must fail (a
#   refused pull, a bad password) are steps too: the test checks their exit codes and messages.
set -uo pipefail
: "${WORK:?}" "${LAYOUT:?}" "${NODE:?}" "${CLI:?}"
# step, wait_for, stop_pid, the cleanup on exit (of SERVE_PID, DOCKERD_PID, CONTAINERD_PID), start_dockerd
source "$(dirname "${BASH_SOURCE[0]}")/../clients/lib.sh"
# Credentials the clients store go here, never to root's own files.
export DOCKER_CONFIG="$WORK/docker-config" REGISTRY_AUTH_FILE="$WORK/containers-auth.json"
mkdir -p "$DOCKER_CONFIG"; echo '{"auths": {}}' >"$REGISTRY_AUTH_FILE"

# --- users, policy, token key ---------------------------------------------------------------------
A="$WORK/auth"; mkdir -p "$A"
make_users() { # bcrypt at cost 4: quick to check, and still the format distribution reads
  htpasswd -c -b -B -C 4 "$A/users" alice alice-pw && htpasswd -b -B -C 4 "$A/users" bob bob-pw
}
cat >"$A/policy.json" <<'JSON'
{
  "anonymousPull": ["public/**"],
  "rules": [
    {"repositories": ["alice/**", "public/**"], "users": ["alice"], "actions": ["*"]},
    {"repositories": ["bob/**"], "users": ["bob"], "actions": ["pull", "push"]}
  ],
  "catalog": {"users": ["*"]}
}
JSON
step users make_users || exit 1
step token.key openssl ecparam -name prime256v1 -genkey -noout -out "$A/token-key.pem" || exit 1

start_auth_serve() { # PORT ARGS...: serve on 127.0.0.1:PORT with a store of its own, logging to WORK/serve.log; sets REG
  local port=$1; shift
  REG="127.0.0.1:$port"
  "$NODE" "$CLI" serve --store "$WORK/store-$port" --listen "$REG" --access-log --htpasswd "$A/users" --auth-policy "$A/policy.json" "$@" 2>>"$WORK/serve.log" &
  SERVE_PID=$!
  # Up once /v2/ answers, asking for credentials.
  wait_for 20 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$REG/v2/)\" = 401 ]" || { tail -20 "$WORK/serve.log" >&2; return 1; }
}

# --- containerd -----------------------------------------------------------------------------------
start_ctrd() { # DIR: containerd with its state under DIR, and a hosts.toml sending REG's names to REG over plain HTTP
  mkdir -p "$1/certs.d/$REG"
  printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s/containerd.sock"\n' "$1" "$1" "$1" >"$1/config.toml"
  printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve", "push"]\n' "$REG" "$REG" >"$1/certs.d/$REG/hosts.toml"
  containerd --config "$1/config.toml" >"$1/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  wait_for 20 ctr -a "$1/containerd.sock" version || { tail -30 "$1/containerd.log" >&2; return 1; }
}

# --- curl: the answers themselves -----------------------------------------------------------------
manifest_as() { # USER|-: GET alice/private's manifest as USER (- anonymous) with this mode's credentials; headers and body
  local url="http://$REG/v2/alice/private/manifests/1" auth=()
  if [ "$1" != - ] && [ "$MODE" = basic ]; then auth=(-u "$1:$1-pw"); fi
  if [ "$1" != - ] && [ "$MODE" = token ]; then
    local token
    token=$(curl -fsS -u "$1:$1-pw" "http://$REG/auth/token?service=dd-e2e&scope=repository:alice/private:pull" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
    auth=(-H "Authorization: Bearer $token")
  fi
  curl -sS -D - "${auth[@]}" "$url"
}

# --- every client, against REG in MODE (basic or token); step ids MODE.* ---------------------------
run_clients() {
  local m=$MODE
  local SK=(skopeo --insecure-policy)
  # skopeo
  step "$m.skopeo.push.alice" "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false --dest-creds alice:alice-pw "oci:$LAYOUT:app" "docker://$REG/alice/private:1"
  step "$m.skopeo.push.public" "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false --dest-creds alice:alice-pw "oci:$LAYOUT:tools" "docker://$REG/public/tools:1"
  step "$m.skopeo.push.anonymous" "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false "oci:$LAYOUT:tools" "docker://$REG/public/anonymous:1"
  step "$m.skopeo.pull.alice" "${SK[@]}" copy -q --preserve-digests --src-tls-verify=false --src-creds alice:alice-pw "docker://$REG/alice/private:1" "oci:$WORK/pulled-$m:app"
  step "$m.skopeo.inspect.bob" "${SK[@]}" inspect --raw --tls-verify=false --creds bob:bob-pw "docker://$REG/alice/private:1"
  step "$m.skopeo.inspect.badpw" "${SK[@]}" inspect --raw --tls-verify=false --creds alice:wrong "docker://$REG/alice/private:1"
  step "$m.skopeo.inspect.anonymous" "${SK[@]}" inspect --raw --tls-verify=false "docker://$REG/public/tools:1"
  # skopeo's blob-info cache knows app's blobs are in alice/private: pushing them elsewhere tries a mount from there.
  step "$m.skopeo.push.bob" "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false --dest-creds bob:bob-pw "oci:$LAYOUT:app" "docker://$REG/bob/app:1"
  step "$m.skopeo.push.alice.copy" "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false --dest-creds alice:alice-pw "oci:$LAYOUT:app" "docker://$REG/alice/copy:1"
  # curl
  step "$m.curl.anonymous" manifest_as -
  step "$m.curl.bob" manifest_as bob
  step "$m.curl.alice" manifest_as alice

  # dockerd: a fresh daemon (and credential store) per mode
  local D="$WORK/docker-$m" DK=(docker -H "unix://$WORK/docker-$m/docker.sock")
  if step "$m.docker.start" start_dockerd "$D" "$REG"; then
    step "$m.docker.login.badpw" "${DK[@]}" login -u alice -p wrong "$REG"
    step "$m.docker.login.alice" "${DK[@]}" login -u alice -p alice-pw "$REG" &&
      step "$m.docker.pull.alice" "${DK[@]}" pull "$REG/alice/private:1" &&
      step "$m.docker.tag.alice" "${DK[@]}" tag "$REG/alice/private:1" "$REG/alice/pushed:1" &&
      step "$m.docker.push.alice" "${DK[@]}" push "$REG/alice/pushed:1"
    if step "$m.docker.login.bob" "${DK[@]}" login -u bob -p bob-pw "$REG"; then
      step "$m.docker.pull.bob" "${DK[@]}" pull "$REG/alice/private:1"
      # docker knows these layers came from alice/private: it may try to mount them from there.
      [ -s "$OUT/$m.docker.pull.alice.out" ] && step "$m.docker.tag.bob" "${DK[@]}" tag "$REG/alice/private:1" "$REG/bob/fromdocker:1" &&
        step "$m.docker.push.bob" "${DK[@]}" push "$REG/bob/fromdocker:1"
    fi
    step "$m.docker.logout" "${DK[@]}" logout "$REG" &&
      step "$m.docker.pull.anonymous" "${DK[@]}" pull "$REG/public/tools:1"
    stop_pid "$DOCKERD_PID" 15; DOCKERD_PID=
    cp "$D/dockerd.log" "$OUT/$m.dockerd.log"
  fi

  # podman (its --runroot may not be longer than 50 characters: short names)
  local P="$WORK/pm-$m"; mkdir -p "$P/root" "$P/run" "$P/tmp"
  local PM=(podman --root "$P/root" --runroot "$P/run" --tmpdir "$P/tmp" --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
  step "$m.podman.pull.alice" "${PM[@]}" pull --tls-verify=false --creds alice:alice-pw "$REG/alice/private:1"
  step "$m.podman.pull.bob" "${PM[@]}" pull --tls-verify=false --creds bob:bob-pw "$REG/alice/private:1"
  step "$m.podman.pull.badpw" "${PM[@]}" pull --tls-verify=false --creds alice:wrong "$REG/alice/private:1"
  step "$m.podman.pull.anonymous" "${PM[@]}" pull --tls-verify=false "$REG/public/tools:1"
  step "$m.podman.push.bob" "${PM[@]}" push --tls-verify=false --creds bob:bob-pw "$REG/alice/private:1" "$REG/bob/podman:1"

  # containerd + ctr
  local C="$WORK/ctrd-$m" CT=(ctr -a "$WORK/ctrd-$m/containerd.sock")
  if step "$m.ctr.start" start_ctrd "$C"; then
    step "$m.ctr.pull.alice" "${CT[@]}" images pull --hosts-dir "$C/certs.d" --user alice:alice-pw "$REG/alice/private:1"
    step "$m.ctr.pull.bob" "${CT[@]}" images pull --hosts-dir "$C/certs.d" --user bob:bob-pw "$REG/alice/private:1"
    step "$m.ctr.pull.badpw" "${CT[@]}" images pull --hosts-dir "$C/certs.d" --user alice:wrong "$REG/alice/private:1"
    step "$m.ctr.pull.anonymous" "${CT[@]}" images pull --hosts-dir "$C/certs.d" "$REG/public/tools:1"
    [ -s "$OUT/$m.ctr.pull.alice.out" ] && step "$m.ctr.tag.bob" "${CT[@]}" images tag "$REG/alice/private:1" "$REG/bob/ctr:1" &&
      step "$m.ctr.push.bob" "${CT[@]}" images push --hosts-dir "$C/certs.d" --user bob:bob-pw "$REG/bob/ctr:1"
    stop_pid "$CONTAINERD_PID" 10; CONTAINERD_PID=
    cp "$C/containerd.log" "$OUT/$m.containerd.log"
  fi
}

MODE=basic
if step basic.serve.start start_auth_serve 5000; then
  run_clients
  step basic.serve.stop stop_serve
  step basic.verify "$NODE" "$CLI" verify --store "$WORK/store-5000"
fi

MODE=token
if step token.serve.start start_auth_serve 5001 --token-realm http://127.0.0.1:5001/auth/token --token-service dd-e2e --token-key "$A/token-key.pem"; then
  run_clients
  step token.serve.stop stop_serve
  step token.verify "$NODE" "$CLI" verify --store "$WORK/store-5001"
fi
exit 0
