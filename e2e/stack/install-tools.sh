#!/usr/bin/env bash
# Builds etcd and helm from the Go module proxy into $CACHE_ROOT, installs kcat and Chromium from Debian and the
# AsyncAPI parser from npm. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
. "$here/lib.sh"
export GOPATH="${GOPATH:-$HOME/go}" GOFLAGS=-buildvcs=false

go_tool_build etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$CACHE_ROOT/etcd/$ETCD_VERSION"
# Helm's built-in Kubernetes version (used by `helm template`/`lint` without a cluster) comes from ldflags; without
# them it assumes v1.20 and refuses the chart's kubeVersion.
k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
helm_ld="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ld="$helm_ld -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
done
go_tool_build helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$CACHE_ROOT/helm/$HELM_VERSION-k8s1.$k8s_minor" "$helm_ld"

# debian_tool COMMAND [PACKAGE]: installs PACKAGE (default COMMAND) from Debian when COMMAND is missing.
debian_tool() {
  local cmd=$1 pkg=${2:-$1}
  if ! command -v "$cmd" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg") >/dev/null 2>&1 \
        || echo "warning: could not install $pkg from Debian" >&2
    else
      echo "warning: $cmd missing and not root; install it with: sudo apt-get install $pkg" >&2
    fi
  fi
  if command -v "$cmd" >/dev/null; then echo "$cmd: $(command -v "$cmd")"; fi
}

debian_tool kcat
# Headless Chromium opens the operator's live map page in the map's e2e test.
debian_tool chromium

if [ ! -f "$ASYNCAPI_PARSER_DIR/node_modules/@asyncapi/avro-schema-parser/package.json" ]; then
  mkdir -p "$ASYNCAPI_PARSER_DIR"
  npm install --no-audit --no-fund --loglevel=error --prefix "$ASYNCAPI_PARSER_DIR" \
    "@asyncapi/parser@$ASYNCAPI_PARSER_VERSION" "@asyncapi/avro-schema-parser@$ASYNCAPI_AVRO_PARSER_VERSION" >/dev/null
fi
echo "@asyncapi/parser $ASYNCAPI_PARSER_VERSION (+ Avro schema parser) in $ASYNCAPI_PARSER_DIR"
