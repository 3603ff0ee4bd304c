#!/usr/bin/env bash
# Fetches Apache Kafka (broker + tools) and log4j2 from Maven Central into $CACHE_ROOT/kafka/$KAFKA_VERSION/lib.
# Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
out="$CACHE_ROOT/kafka/$KAFKA_VERSION"
pom=$(cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tributary</groupId><artifactId>kafka-stack</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
)
if [ -f "$out/.complete" ] && [ "$(cat "$out/pom.xml" 2>/dev/null)" = "$pom" ]; then
  echo "kafka $KAFKA_VERSION cached in $out"; exit 0
fi
start=$(date +%s)
mkdir -p "$out"; rm -f "$out/.complete"
printf '%s\n' "$pom" > "$out/pom.xml"
cd "$out"
rm -rf lib
mvn -B -q -Dmaven.repo.local="$CACHE_ROOT/m2" \
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory=lib
# Kafka's clients use the SLF4J 1.7 API, hence log4j-slf4j-impl (not the slf4j2 binding); drop other bindings.
rm -f lib/slf4j-reload4j-*.jar lib/log4j-1.2-api-*.jar lib/reload4j-*.jar
cat > log4j2.properties <<'L4J'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = org.apache.kafka
logger.kafka.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
L4J
touch .complete
echo "kafka $KAFKA_VERSION fetched in $(( $(date +%s) - start ))s into $out"
