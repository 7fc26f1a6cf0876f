#!/usr/bin/env bash
# Resolves Apache Cassandra (org.apache.cassandra:cassandra-all, pinned below) and its runtime
# dependencies from Maven Central into a cache directory keyed by version, and prints the directory
# holding the jars (the only line on stdout; progress goes to stderr):
#
#   lib:    ${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}/cassandra/<version>/lib/*.jar
#   Maven's local repository for it: ${DOCKER_DEDUP_TOOLS:-...}/cassandra/m2 (kept, shared by versions)
#
# How: Maven itself (Debian's `maven` package) with a generated one-dependency pom and the pinned
# maven-dependency-plugin's copy-dependencies goal, so the runtime tree is resolved by coordinates
# exactly as Cassandra's own pom declares it (100 jars for 5.0.9, with netty/tcnative/epoll
# classifiers and Maven's version mediation) rather than by a hand-kept URL list. `-C` (strict
# checksums) makes Maven fail on any download whose .sha1 from Central does not match. Then every
# jar is checked against the committed lock file cassandra-<version>.lock (sha256, file name and
# coordinates of each jar): the set of jars must be exactly the locked one, so a changed
# transitive resolution, a corrupt local repository or a tampered cache fails loudly.
#
# Idempotent: with the cache in place it runs no Maven at all, only re-hashes the jars (~0.3 s).
# Concurrent callers are serialised with flock. Needs java (17) and mvn (3.8.7 tested) on PATH.
#
# Usage: scripts/cassandra/fetch.sh            resolve (or check the cache) and print the lib dir
#        scripts/cassandra/fetch.sh --relock   resolve afresh and rewrite the lock file (maintainers,
#                                              after changing CASSANDRA_VERSION below)
set -euo pipefail

CASSANDRA_VERSION=5.0.9
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

HERE="$(cd "$(dirname "$0")" && pwd)"
LOCK_FILE="$HERE/cassandra-$CASSANDRA_VERSION.lock"
TOOLS_DIR="${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}"
BASE="$TOOLS_DIR/cassandra"
DEST="$BASE/$CASSANDRA_VERSION"
M2="$BASE/m2"

relock=
case "${1:-}" in
  "") ;;
  --relock) relock=1 ;;
  *) echo "usage: $0 [--relock]" >&2; exit 2 ;;
esac

say() { echo "cassandra-fetch: $*" >&2; }

# check_lib DIR: the jars in DIR are exactly those of the lock file, with their sha256.
check_lib() {
  local dir="$1" expected actual
  expected="$(awk '!/^#/ && NF {print $2}' "$LOCK_FILE" | sort)"
  actual="$(cd "$dir" && ls -1 | sort)"
  if [ "$expected" != "$actual" ]; then
    say "the jars in $dir differ from $LOCK_FILE:"
    diff <(echo "$expected") <(echo "$actual") | sed 's/^/  /' >&2 || true
    return 1
  fi
  (cd "$dir" && awk '!/^#/ && NF {print $1 "  " $2}' "$LOCK_FILE" | sha256sum --check --quiet --strict -) >&2
}

mkdir -p "$BASE"
exec 9>"$BASE/.fetch.lock"
flock 9

if [ -z "$relock" ] && [ -d "$DEST/lib" ]; then
  [ -f "$LOCK_FILE" ] || { say "no lock file $LOCK_FILE"; exit 1; }
  if check_lib "$DEST/lib"; then
    echo "$DEST/lib"
    exit 0
  fi
  say "cached $DEST/lib does not match the lock file: resolving it again"
fi

for tool in java mvn; do
  command -v "$tool" >/dev/null || {
    say "$tool not found (Debian: apt-get install openjdk-17-jre-headless maven)"
    exit 1
  }
done
[ -n "$relock" ] || [ -f "$LOCK_FILE" ] || { say "no lock file $LOCK_FILE (run with --relock)"; exit 1; }

work="$(mktemp -d "$BASE/.fetch-$CASSANDRA_VERSION.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>docker-dedup.test</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>$CASSANDRA_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF

say "resolving org.apache.cassandra:cassandra-all:$CASSANDRA_VERSION from Maven Central (local repository $M2)"
# JAVA_TOOL_OPTIONS and friends would leak into Maven's JVM; -ntp: no per-file progress lines.
mvn_() {
  env -u JAVA_TOOL_OPTIONS -u _JAVA_OPTIONS -u JDK_JAVA_OPTIONS \
    mvn -B -ntp -C -f "$work/pom.xml" -Dmaven.repo.local="$M2" "$@" >>"$work/mvn.log" 2>&1 || {
    say "mvn $* failed; its log:"
    tail -40 "$work/mvn.log" >&2
    exit 1
  }
}
# One Maven run: copy the runtime jars, and list their coordinates (for --relock and for errors).
mvn_ "$DEPENDENCY_PLUGIN:copy-dependencies" "$DEPENDENCY_PLUGIN:list" -DincludeScope=runtime \
  -DoutputDirectory="$work/lib" -DoutputFile="$work/list.txt" -DoutputAbsoluteArtifactFilename=true \
  -DappendOutput=false

if [ -n "$relock" ]; then
  {
    echo "# org.apache.cassandra:cassandra-all:$CASSANDRA_VERSION runtime jars, written by fetch.sh --relock"
    echo "# sha256  file  groupId:artifactId:type[:classifier]:version"
    # list.txt lines: "   g:a:type[:classifier]:version:scope:/abs/path.jar -- module ..."
    sed -n 's/^ *\([^ ]*\):[a-z]*:\(\/[^ ]*\.jar\).*/\1 \2/p' "$work/list.txt" | while read -r coords path; do
      file="$(basename "$path")"
      [ -f "$work/lib/$file" ] || { say "listed $coords but copied no $file"; exit 1; }
      echo "$(sha256sum "$work/lib/$file" | cut -d' ' -f1)  $file  $coords"
    done | sort -k2
  } >"$work/lock"
  mv "$work/lock" "$LOCK_FILE"
  say "wrote $LOCK_FILE ($(grep -vc '^#' "$LOCK_FILE") jars)"
fi

check_lib "$work/lib" || { say "resolved jars do not match $LOCK_FILE"; exit 1; }
rm -rf "$DEST.old"
[ ! -d "$DEST" ] || mv "$DEST" "$DEST.old"
mkdir -p "$DEST"
mv "$work/lib" "$DEST/lib"
cp "$LOCK_FILE" "$DEST/lib.lock"
rm -rf "$DEST.old"
say "$(ls "$DEST/lib" | wc -l) jars, $(du -sh "$DEST/lib" | cut -f1) in $DEST/lib"
echo "$DEST/lib"
