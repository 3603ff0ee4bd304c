#!/usr/bin/env bash
# Fetches Apicurio Registry (the Quarkus app, `io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all`) from
# Maven Central into $CACHE_ROOT/apicurio/$APICURIO_VERSION, and Confluent's Python client with its Avro and Schema
# Registry extras (`confluent-kafka[avro,schemaregistry]` from PyPI) into a venv at $CACHE_ROOT/pyclients. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
out="$CACHE_ROOT/apicurio/$APICURIO_VERSION"
if [ -f "$out/.complete" ]; then
  echo "apicurio registry $APICURIO_VERSION cached in $out"
else
  start=$(date +%s)
  rm -rf "$out"; mkdir -p "$out"
  mvn -B -q -Dmaven.repo.local="$CACHE_ROOT/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory="$out"
  tar -xzf "$out"/apicurio-registry-app-"$APICURIO_VERSION"-all.tar.gz -C "$out"
  rm -f "$out"/apicurio-registry-app-"$APICURIO_VERSION"-all.tar.gz
  run=$(find "$out" -name quarkus-run.jar | head -n1)
  [ -n "$run" ] || { echo "no quarkus-run.jar in the Apicurio archive" >&2; exit 1; }
  dirname "$run" > "$out/app-dir"
  touch "$out/.complete"
  echo "apicurio registry $APICURIO_VERSION fetched in $(( $(date +%s) - start ))s into $out"
fi

venv="$CACHE_ROOT/pyclients/confluent-kafka-$CONFLUENT_KAFKA_PY_VERSION"
if [ -f "$venv/.complete" ]; then
  echo "confluent-kafka $CONFLUENT_KAFKA_PY_VERSION cached in $venv"
else
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "confluent-kafka[avro,schemaregistry]==$CONFLUENT_KAFKA_PY_VERSION"
  touch "$venv/.complete"
  echo "confluent-kafka $CONFLUENT_KAFKA_PY_VERSION installed into $venv"
fi
