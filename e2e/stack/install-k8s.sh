#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kubelet from the Go module proxy
# into $CACHE_ROOT/k8s/$K8S_VERSION. Idempotent: does nothing when the binaries are already cached.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
out="$CACHE_ROOT/k8s/$K8S_VERSION"
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)
missing=0
for c in "${cmds[@]}"; do [ -x "$out/$c" ] || missing=1; done
[ "$missing" = 0 ] && { echo "k8s $K8S_VERSION cached in $out"; exit 0; }
start=$(date +%s)
mkdir -p "$out"
export GOPATH="${GOPATH:-$HOME/go}" GOFLAGS=-buildvcs=false
w="$CACHE_ROOT/k8s/build-$K8S_VERSION"
rm -rf "$w"; mkdir -p "$w"; cd "$w"
go mod init local/k8sbins >/dev/null 2>&1
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
staging="v0.${K8S_VERSION#v1.}"
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
for m in $(grep -oE 'k8s\.io/[a-z0-9-]+ +=> +\./staging' "$gomod" | awk '{print $1}' | sort -u); do
  go mod edit -replace="$m=$m@$staging"
done
for c in "${cmds[@]}"; do
  if [ "$c" = kubectl ]; then pkg=k8s.io/kubernetes/cmd/kubectl; else pkg=k8s.io/kubernetes/cmd/$c; fi
  go get -tool "$pkg@$K8S_VERSION"
done
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
for c in "${cmds[@]}"; do
  echo "building $c $K8S_VERSION"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$out/$c" "k8s.io/kubernetes/cmd/$c"
done
cd /; rm -rf "$w"
echo "k8s $K8S_VERSION built in $(( $(date +%s) - start ))s into $out"
