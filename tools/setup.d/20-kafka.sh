#!/usr/bin/env bash
# Resolves the Apache Kafka 4.x broker jars (KRaft, no ZooKeeper) from Maven Central with Maven
# into tools/cache/kafka-libs (gitignored). The integration-test fixture `kafka_broker` runs them
# with `java -cp`. Idempotent: a second run only checks a stamp that names the pom's hash.
set -euo pipefail
cd "$(dirname "$0")/../.."

POM="tools/kafka/pom.xml"
LIBS="$PWD/tools/cache/kafka-libs"
STAMP="$LIBS/.pom-sha256"
WANT="$(sha256sum "$POM" | cut -d' ' -f1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then
    exit 0
fi
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "20-kafka.sh: installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
echo "20-kafka.sh: resolving the Kafka broker jars into $LIBS (first run only)"
rm -rf "$LIBS"
mkdir -p "$LIBS"
mvn -q -B -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime
echo "$WANT" > "$STAMP"
echo "20-kafka.sh: $(ls "$LIBS"/*.jar | wc -l) jars"
