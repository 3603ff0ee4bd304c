# Pinned versions of every part of the local stack. Sourced by the stack scripts.
K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
LOG4J_VERSION=${LOG4J_VERSION:-2.24.3}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
CACHE_ROOT=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
# The official AsyncAPI parser (npm), which the map's e2e test validates `tributary topology --format asyncapi` with.
ASYNCAPI_PARSER_VERSION=${ASYNCAPI_PARSER_VERSION:-3.6.6}
ASYNCAPI_AVRO_PARSER_VERSION=${ASYNCAPI_AVRO_PARSER_VERSION:-3.1.0}
ASYNCAPI_PARSER_DIR=$CACHE_ROOT/npm/asyncapi-parser-$ASYNCAPI_PARSER_VERSION
APICURIO_VERSION=${APICURIO_VERSION:-3.3.3}
CONFLUENT_KAFKA_PY_VERSION=${CONFLUENT_KAFKA_PY_VERSION:-2.16.1}
# The TCP fault proxy of `make faults` (e2e/stack/install-toxiproxy.sh, e2e/src/faults/).
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.5.0}
TOXIPROXY_DIR=$CACHE_ROOT/toxiproxy/$TOXIPROXY_VERSION
# KEDA (operator + metrics API server), built from the Go module proxy for the KEDA phase of `make bench-lag`.
KEDA_VERSION=${KEDA_VERSION:-v2.21.0}
KEDA_DIR=$CACHE_ROOT/keda/$KEDA_VERSION
