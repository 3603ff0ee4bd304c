# Shared helpers of the stack scripts. Sourced after versions.sh.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${TRIBUTARY_STACK_DIR:-$REPO_ROOT/e2e/.stack}
LOGS=$STATE/logs
K8S_BIN=$CACHE_ROOT/k8s/$K8S_VERSION
ETCD_BIN=$CACHE_ROOT/etcd/$ETCD_VERSION/etcd
_k8s_minor=${K8S_VERSION#v1.}; HELM_BIN=$CACHE_ROOT/helm/$HELM_VERSION-k8s1.${_k8s_minor%%.*}/helm
KAFKA_HOME=$CACHE_ROOT/kafka/$KAFKA_VERSION
SCRAM_USER=${SCRAM_USER:-tributary}
SCRAM_PASSWORD=${SCRAM_PASSWORD:-tributary-e2e-secret}

# free_ports N: prints N distinct free TCP ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# start_bg NAME CMD...: starts CMD in the background with its log in $LOGS/NAME.log and records its PID.
start_bg() {
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pids/$name"
}

# wait_for WHAT SECONDS CMD...: retries CMD until it succeeds; on time-out prints the log tails and fails.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "timed out after ${secs}s waiting for $what" >&2
      for f in "$LOGS"/*.log; do echo "==> $f <==" >&2; tail -n 30 "$f" >&2; done
      return 1
    fi
    sleep 0.5
  done
}

# stop_pid NAME: SIGTERM to the recorded PID of NAME, SIGKILL after 10 s; forgets the PID.
stop_pid() {
  local name=$1 pid
  [ -f "$STATE/pids/$name" ] || return 0
  pid=$(cat "$STATE/pids/$name")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    echo "stopped $name ($pid)"
  fi
  rm -f "$STATE/pids/$name"
}

pid_alive() { [ -f "$STATE/pids/$1" ] && kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; }

kafka_broker_up() { python3 -c "import socket;socket.create_connection(('127.0.0.1',$1),1).close()"; }

kafka_has_brokers() {
  local n
  n=$(kcat -b "$(. "$STATE/ports.env"; echo "$KAFKA_BOOTSTRAP")" -L -J -m 5 2>/dev/null \
      | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["brokers"]))')
  [ "${n:-0}" -ge "$1" ]
}

stack_healthy() {
  [ -f "$STATE/ports.env" ] || return 1
  local p
  for p in "$STATE"/pids/*; do pid_alive "$(basename "$p")" || return 1; done
  ( . "$STATE/ports.env"
    curl -fsS --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
      "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null
    for port in $KAFKA_BROKER_PORTS; do kafka_broker_up "$port"; done ) >/dev/null 2>&1
}

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
