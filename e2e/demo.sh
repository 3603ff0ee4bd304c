#!/usr/bin/env bash
# `make demo`: the local stack with its node, the images built here, Tributary installed with its Helm chart, the
# samples (config/samples), and live traffic: consumer pods of `orders` scaled by Tributary, a producer with a burst
# now and then, and poison records that land in the dead-letter topic. Ends by printing what to watch.
# `make stack-down` stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/stack/up --brokers "${BROKERS:-1}"
# shellcheck disable=SC1091
. e2e/stack/env.sh
make --no-print-directory image

kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for condition=established crd --all --timeout=60s >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
helm upgrade --install tributary charts/tributary -n tributary-system --create-namespace --skip-crds \
  -f e2e/demo/local-values.yaml --set "apiServer.port=$APISERVER_PORT" --set "http.port=$port" \
  --set defaultConnection.create=true --set "defaultConnection.bootstrapServers={$KAFKA_BOOTSTRAP}" >/dev/null
kubectl -n tributary-system rollout status deployment/tributary --timeout=180s

kubectl create namespace tributary-demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# The samples name 127.0.0.1:9092; point them at this stack's brokers.
for f in config/samples/*.yaml; do
  sed "s/127.0.0.1:9092/${KAFKA_BOOTSTRAP//,/\", \"}/" "$f" | kubectl apply -n tributary-demo -f - >/dev/null
done
kubectl -n tributary-demo wait --for condition=Ready topic/orders dlqpolicy/orders --timeout=120s >/dev/null
sed "s/KAFKA_BOOTSTRAP_PLACEHOLDER/$KAFKA_BOOTSTRAP/" e2e/demo/workloads.yaml | kubectl apply -n tributary-demo -f - >/dev/null
kubectl -n tributary-demo rollout status deployment/orders-producer --timeout=120s >/dev/null

echo
kubectl get pods -n tributary-system -o wide
echo
kubectl get kafkaconnections,topics,consumergroups,dlqpolicies,deployments -n tributary-demo
cat <<TXT

Tributary runs as the pod above (chart charts/tributary, image tributary.local/tributary:dev). The producer sends
20 orders/s, a burst of 6,000 twenty seconds from now and every three minutes after, and a poison order every 30 s.
Watch, after \`. e2e/stack/env.sh\`:
  kubectl -n tributary-demo get kcg orders-billing -w         # lag, replicas: 0 → 1 → 3 on the burst → back
  kubectl -n tributary-demo get pods -l app=orders-billing -w # the consumer pods Tributary scales
  kubectl -n tributary-demo get dlq orders -o jsonpath='{.status.depth}{"\n"}'   # dead letters waiting
  kubectl -n tributary-demo patch dlq orders --type merge -p '{"spec":{"redrive":{"id":"try-1"}}}'   # move them back
  kubectl -n tributary-demo get dlq orders -o jsonpath='{.status.redrive}{"\n"}'
  kubectl -n tributary-system logs deployment/tributary -f
The map:  http://127.0.0.1:$port/topology.html   (or: target/dist/tributary topology -n tributary-demo --format mermaid)
Metrics: http://127.0.0.1:$port/metrics   (curl -s http://127.0.0.1:$port/metrics | grep tributary_consumergroup)
Stop everything: make stack-down
TXT
