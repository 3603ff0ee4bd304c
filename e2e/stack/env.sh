# Source me: `. e2e/stack/env.sh` exports what the tests and tools need to reach the running stack.
_tributary_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_tributary_here/versions.sh"
. "$_tributary_here/lib.sh"
if [ -f "$STATE/ports.env" ]; then
  . "$STATE/ports.env"
  export KUBECONFIG="$STATE/kubeconfig" APISERVER_PORT
  [ -z "${CONTAINERD_SOCKET:-}" ] || export CONTAINERD_SOCKET NODE_NAME KUBELET_PORT
  export KAFKA_BOOTSTRAP KAFKA_SCRAM_BOOTSTRAP KAFKA_TLS_BOOTSTRAP KAFKA_TLS_CA KAFKA_BROKER_PORTS
  export KAFKA_CLIENTS_CA_CERT KAFKA_CLIENTS_CA_KEY ASYNCAPI_PARSER_DIR
  # --fault-proxy stacks only (empty otherwise): Toxiproxy's API and what sits behind it.
  export TOXIPROXY_URL APISERVER_PROXY_PORT KAFKA_PROXY_PORTS KAFKA_PROXIED_UPSTREAM_PORTS KAFKA_PROXIED_BOOTSTRAP
  export TOXIPROXY_BIN="$TOXIPROXY_DIR/toxiproxy-cli"
  export KAFKA_LIB="$KAFKA_HOME/lib"
  export KAFKA_LOG4J="$KAFKA_HOME/log4j2.properties"
  export KAFKA_SCRAM_USER="$SCRAM_USER" KAFKA_SCRAM_PASSWORD="$SCRAM_PASSWORD"
  export TRIBUTARY_STACK_DIR="$STATE" TRIBUTARY_STACK_LOGS="$LOGS"
  export PATH="$K8S_BIN:$(dirname "$HELM_BIN"):$PATH"
  # The schema registry (e2e/stack/registry) and the venv with Confluent's Python client (install-registry.sh).
  if [ -f "$STATE/registry.env" ]; then
    . "$STATE/registry.env"
    export SCHEMA_REGISTRY_URL
  fi
  export SCHEMA_CLIENT_PYTHON="$CACHE_ROOT/pyclients/confluent-kafka-$CONFLUENT_KAFKA_PY_VERSION/bin/python"
else
  echo "no stack is up (run e2e/stack/up)" >&2
fi
unset _tributary_here
