#!/usr/bin/env bash
# Builds KEDA's operator and metrics API server (adapter) at $KEDA_VERSION from the Go module proxy into
# $KEDA_DIR (~/.cache/tributary/keda/<version>/), copies KEDA's CRDs and RBAC manifests there from the module
# source, and installs socat from Debian (e2e/stack/keda's forwarder). Idempotent.
#
# KEDA's go.mod has replace directives, which forbid `go install pkg@version`; so the module source is copied out of
# the module cache and built in place, where its own go.mod (with its replaces and go.sum) holds.
#
# One line of KEDA is changed before the build: the adapter's own /metrics listener binds ":<port>" (every
# interface) with no flag to choose the host, and this stack's servers listen on 127.0.0.1 only; it is bound to
# 127.0.0.1. Nothing the benchmark measures goes through it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
export GOPATH="${GOPATH:-$HOME/go}" GOFLAGS=-buildvcs=false

if ! command -v socat >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "socat missing and not root; install it with: sudo apt-get install socat" >&2; exit 1; }
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat) >/dev/null 2>&1
fi
echo "socat: $(command -v socat)"

if [ -x "$KEDA_DIR/keda-operator" ] && [ -x "$KEDA_DIR/keda-adapter" ] && [ -d "$KEDA_DIR/config" ]; then
  echo "KEDA $KEDA_VERSION cached in $KEDA_DIR"
  exit 0
fi
start=$(date +%s)
mkdir -p "$KEDA_DIR"
src=$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
w=$(mktemp -d)
trap 'chmod -R u+w "$w" 2>/dev/null; rm -rf "$w"' EXIT
cp -r "$src/." "$w/"
chmod -R u+w "$w"
bind='metricsBindAddress := fmt.Sprintf(":%v", metricsAPIServerPort)'
grep -qF "$bind" "$w/cmd/adapter/main.go" || { echo "KEDA $KEDA_VERSION: the adapter's metrics bind line moved" >&2; exit 1; }
sed -i "s|$bind|metricsBindAddress := fmt.Sprintf(\"127.0.0.1:%v\", metricsAPIServerPort)|" "$w/cmd/adapter/main.go"
ld="-s -w -X github.com/kedacore/keda/v2/version.Version=${KEDA_VERSION#v} -X github.com/kedacore/keda/v2/version.GitCommit=module-proxy"
( cd "$w"
  CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "$ld" -o "$KEDA_DIR/keda-operator" ./cmd/operator
  CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "$ld" -o "$KEDA_DIR/keda-adapter" ./cmd/adapter )
rm -rf "$KEDA_DIR/config"; mkdir -p "$KEDA_DIR/config"
cp -r "$src/config/crd" "$src/config/rbac" "$src/config/metrics-server" "$KEDA_DIR/config/"
chmod -R u+w "$KEDA_DIR/config"
echo "KEDA $KEDA_VERSION (operator, adapter, CRDs, RBAC) built in $(( $(date +%s) - start ))s into $KEDA_DIR"
