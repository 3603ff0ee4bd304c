#!/usr/bin/env bash
# Builds etcd and helm from the Go module proxy into $CACHE_ROOT, installs kcat and Chromium from Debian and the
# AsyncAPI parser from npm. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
export GOPATH="${GOPATH:-$HOME/go}" GOFLAGS=-buildvcs=false

# go_tool_build NAME PACKAGE VERSION OUTDIR: builds one command through a throw-away module, so that the
# command's own go.mod replace directives (which forbid `go install pkg@version`) do not matter.
go_tool_build() {
  local name=$1 pkg=$2 version=$3 out=$4 ldflags=${5:-}
  [ -x "$out/$name" ] && { echo "$name $version cached in $out"; return 0; }
  local start w; start=$(date +%s)
  mkdir -p "$out"; w=$(mktemp -d)
  ( cd "$w" && go mod init local/$name >/dev/null 2>&1 && go get -tool "$pkg@$version" \
      && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$name" "$pkg" )
  rm -rf "$w"
  echo "$name $version built in $(( $(date +%s) - start ))s"
}

go_tool_build etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$CACHE_ROOT/etcd/$ETCD_VERSION"
# Helm's built-in Kubernetes version (used by `helm template`/`lint` without a cluster) comes from ldflags; without
# them it assumes v1.20 and refuses the chart's kubeVersion.
k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
helm_ld="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ld="$helm_ld -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
done
go_tool_build helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$CACHE_ROOT/helm/$HELM_VERSION-k8s1.$k8s_minor" "$helm_ld"

if ! command -v kcat >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat) >/dev/null 2>&1 \
      || echo "warning: could not install kcat from Debian" >&2
  else
    echo "warning: kcat missing and not root; install it with: sudo apt-get install kcat" >&2
  fi
fi
command -v kcat >/dev/null && echo "kcat: $(command -v kcat)"

# Headless Chromium opens the operator's live map page in the map's e2e test.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "warning: could not install chromium from Debian" >&2
  else
    echo "warning: chromium missing and not root; install it with: sudo apt-get install chromium" >&2
  fi
fi
command -v chromium >/dev/null && echo "chromium: $(command -v chromium)"

if [ ! -f "$ASYNCAPI_PARSER_DIR/node_modules/@asyncapi/avro-schema-parser/package.json" ]; then
  mkdir -p "$ASYNCAPI_PARSER_DIR"
  npm install --no-audit --no-fund --loglevel=error --prefix "$ASYNCAPI_PARSER_DIR" \
    "@asyncapi/parser@$ASYNCAPI_PARSER_VERSION" "@asyncapi/avro-schema-parser@$ASYNCAPI_AVRO_PARSER_VERSION" >/dev/null
fi
echo "@asyncapi/parser $ASYNCAPI_PARSER_VERSION (+ Avro schema parser) in $ASYNCAPI_PARSER_DIR"
