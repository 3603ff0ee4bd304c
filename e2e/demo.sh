#!/usr/bin/env bash
# `make demo`: builds everything, starts the local stack, installs the CRDs, runs the operator against it with
# config/samples applied, and shows the resources. The operator keeps running (its PID is recorded with the
# stack's, so `make stack-down` stops it too).
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/stack/up --brokers "${BROKERS:-1}"
# shellcheck disable=SC1091
. e2e/stack/env.sh
cargo build -p tributary
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for condition=established crd --all --timeout=60s >/dev/null
kubectl create namespace tributary-demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
pidfile="$TRIBUTARY_STACK_DIR/pids/operator"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then kill "$(cat "$pidfile")"; sleep 1; fi
setsid target/debug/tributary run --http-addr "127.0.0.1:$port" --log-format text \
  --default-connection tributary-demo/local >"$TRIBUTARY_STACK_LOGS/operator.log" 2>&1 </dev/null &
echo $! > "$pidfile"
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
# The samples name 127.0.0.1:9092; point them at this stack's broker.
for f in config/samples/*.yaml; do
  sed "s/127.0.0.1:9092/${KAFKA_BOOTSTRAP//,/\", \"}/" "$f" | kubectl apply -n tributary-demo -f -
done
sleep "${DEMO_SETTLE_SECONDS:-8}"
kubectl get kafkaconnections,topics,consumergroups,dlqpolicies -n tributary-demo
echo
echo "operator: pid $(cat "$pidfile"), metrics http://127.0.0.1:$port/metrics, log $TRIBUTARY_STACK_LOGS/operator.log"
echo "try: . e2e/stack/env.sh && kubectl get topics -A"
