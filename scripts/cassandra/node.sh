#!/usr/bin/env bash
# Runs one Apache Cassandra 5.0 node in the foreground (the JVM replaces this shell, so the caller's
# child pid is the JVM's), from the jars that fetch.sh caches, for tests and benchmarks:
#
#   scripts/cassandra/node.sh DIR ADDRESS NATIVE_PORT STORAGE_PORT SEEDS INITIAL_TOKEN
#
#   DIR            the node's directory (made if missing): cassandra.yaml and logback.xml are
#                  (re)written there on every start, data/, commitlog/, hints/, saved_caches/ and
#                  tmp/ live there, so starting again on the same DIR restarts the same node
#   ADDRESS        listen and native-transport address, e.g. 127.0.0.1 (127.0.0.2, .3 for a cluster;
#                  Linux routes all of 127.0.0.0/8 to lo without setup)
#   NATIVE_PORT    CQL port; STORAGE_PORT: inter-node port (a cluster uses the same two ports on
#                  each address)
#   SEEDS          comma-separated ADDRESS:STORAGE_PORT list (the node itself for a single node)
#   INITIAL_TOKEN  the node's one token (num_tokens 1), e.g. 0 for a single node
#
# Environment: CASSANDRA_HEAP (default 256M: -Xms and -Xmx), CASSANDRA_LIB (default: what
# fetch.sh prints, resolving it first if needed), CASSANDRA_JAVA (default: java on PATH if it is
# 17 or 11, else /usr/lib/jvm/java-17-openjdk-*/bin/java; 21+ does not run Cassandra 5.0), CASSANDRA_LOG_LEVEL (default INFO),
# CASSANDRA_JVM_EXTRA (more JVM flags, split on spaces), CASSANDRA_COMMITLOG_SYNC (periodic, the
# default: Cassandra's own, a write is acknowledged before its commit log section is synced every
# 10 s, so a SIGKILL loses up to 10 s of acknowledged writes on that node; or batch: a write is
# acknowledged once synced, so a SIGKILL loses nothing acknowledged).
#
# Logs go to stdout/stderr: redirect them to a file, not a pipe nobody drains. The node is ready
# when it logs "Starting listening for CQL clients" and answers CQL on NATIVE_PORT. SIGTERM stops it
# cleanly (it drains and flushes, ~2-6 s); SIGKILL is a crash (the commit log replays on restart).
# The JVM gets SIGKILL when the process that started it dies (setpriv --pdeathsig), so a crashed
# test run leaves no Cassandra behind. JMX is off (no port opened, so no nodetool).
set -euo pipefail

[ "$#" -eq 6 ] || {
  echo "usage: $0 DIR ADDRESS NATIVE_PORT STORAGE_PORT SEEDS INITIAL_TOKEN" >&2
  exit 2
}
dir="$1" address="$2" native_port="$3" storage_port="$4" seeds="$5" token="$6"
HERE="$(cd "$(dirname "$0")" && pwd)"
heap="${CASSANDRA_HEAP:-256M}"
java="${CASSANDRA_JAVA:-java}"
level="${CASSANDRA_LOG_LEVEL:-INFO}"
# Cassandra 5.0 runs on Java 11 and 17 only (21 is unsupported, 24+ fails at setSecurityManager).
# When `java` on PATH is another version, Debian's openjdk-17 is used if it is installed.
java_version() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
version="$(java_version "$java")"
if [ -z "${CASSANDRA_JAVA:-}" ] && [ "$version" != 17 ] && [ "$version" != 11 ]; then
  for candidate in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    [ -x "$candidate" ] && java="$candidate" && version="$(java_version "$java")" && break
  done
fi
case "$version" in
  11 | 17) ;;
  *) echo "cassandra-node: $java is Java '${version:-?}'; Cassandra 5.0 needs 17 (or 11): set CASSANDRA_JAVA" >&2; exit 1 ;;
esac
lib="${CASSANDRA_LIB:-$("$HERE/fetch.sh")}"
jamm="$(ls "$lib"/jamm-*.jar 2>/dev/null | head -1)"
[ -n "$jamm" ] || { echo "cassandra-node: no jamm jar in $lib" >&2; exit 1; }

mkdir -p "$dir/tmp"
dir="$(cd "$dir" && pwd)"
case "${CASSANDRA_COMMITLOG_SYNC:-periodic}" in
  periodic) commitlog_sync=$'commitlog_sync: periodic\ncommitlog_sync_period: 10000ms' ;;
  batch) commitlog_sync='commitlog_sync: batch' ;;
  *) echo "cassandra-node: CASSANDRA_COMMITLOG_SYNC must be periodic or batch" >&2; exit 2 ;;
esac

# Only keys this 5.0 loader knows (unknown keys, and old and new names of one key together, abort
# the start). Directories come from -Dcassandra.storagedir. Tuned for tests: one token, no
# snapshots on DROP/TRUNCATE, one compactor, small memtables, no crypto provider, no UDFs.
cat >"$dir/cassandra.yaml" <<EOF
cluster_name: docker-dedup-test
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
num_tokens: 1
initial_token: $token
listen_address: $address
rpc_address: $address
storage_port: $storage_port
native_transport_port: $native_port
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$seeds"
auto_bootstrap: false
auto_snapshot: false
$commitlog_sync
concurrent_compactors: 1
memtable_heap_space: 64MiB
EOF

cat >"$dir/logback.xml" <<EOF
<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%date{ISO8601} %-5level [%thread] %logger{0} %msg%n</pattern></encoder>
  </appender>
  <root level="$level"><appender-ref ref="OUT"/></root>
</configuration>
EOF

# Inherited JVM option variables would change this JVM (_JAVA_OPTIONS overrides the command line).
unset JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS
# Cassandra calls mlockall(MCL_CURRENT) at start: as root (CAP_IPC_LOCK ignores RLIMIT_MEMLOCK) that
# succeeds and faults in the whole committed heap and every mapped jar, which costs start time and
# keeps ~heap+350 MiB resident per node. Without the capability it fails with a one-line warning.
drop_caps=()
[ "$(id -u)" -ne 0 ] || drop_caps=(--bounding-set -ipc_lock)
# shellcheck disable=SC2086 # CASSANDRA_JVM_EXTRA is a space-separated flag list on purpose
exec setpriv "${drop_caps[@]}" --pdeathsig KILL -- "$java" \
  -Xms"$heap" -Xmx"$heap" -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
  -Djava.io.tmpdir="$dir/tmp" \
  -javaagent:"$jamm" \
  @"$HERE/jvm17.args" \
  -Dcassandra-foreground=yes \
  -Dcassandra.config="file://$dir/cassandra.yaml" \
  -Dcassandra.storagedir="$dir" \
  -Dcassandra.logdir="$dir" \
  -Dlogback.configurationFile="$dir/logback.xml" \
  -Dcassandra.skip_wait_for_gossip_to_settle=0 \
  -Dcassandra.memtable_row_overhead_computation_step=100 \
  -Dcassandra.shutdown_announce_in_ms=500 \
  ${CASSANDRA_JVM_EXTRA:-} \
  -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon
