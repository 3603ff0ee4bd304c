# The stack's node: containerd (with runc) and kubelet, registered as node `127.0.0.1`, plus kube-scheduler.
# Sourced by `up` (node_start) and `down` (node_stop) after versions.sh and lib.sh.
#
# Everything stays on loopback: pods use the host network, the kubelet API and containerd's streaming server listen
# on 127.0.0.1, and the node is named `127.0.0.1` so that this is its only address (kubelet refuses a loopback
# --node-ip, and without a name it would take the machine's other interface). Nothing is pulled: the sandbox image
# and every other image are built here and imported into containerd (`e2e/image/load`).

NODE_NAME=127.0.0.1
PAUSE_IMAGE=tributary.local/pause:1
CONTAINERD_DIR=$STATE/containerd
CONTAINERD_SOCKET=$CONTAINERD_DIR/containerd.sock
KUBELET_DIR=$STATE/kubelet

ctr_node() { timeout 60 ctr --address "$CONTAINERD_SOCKET" -n k8s.io "$@"; }

# node_pki: the kubelet's client certificate (its node identity), and the apiserver's client certificate for the
# kubelet API (logs, exec). The kubelet serves with the stack's serving certificate (IP SAN 127.0.0.1).
node_pki() {
  ( cd "$STATE/pki"
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:$NODE_NAME" -keyout kubelet.key \
      -out kubelet.csr 2>/dev/null
    openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext \
      -out kubelet.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver-kubelet-client" -keyout apiserver-kubelet.key \
      -out apiserver-kubelet.csr 2>/dev/null
    openssl x509 -req -in apiserver-kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out apiserver-kubelet.crt 2>/dev/null )
}

# node_start APISERVER_PORT: starts containerd, imports the sandbox image, starts kube-scheduler and kubelet, and
# waits until the node is Ready without taints.
node_start() {
  local apiserver_port=$1 kubelet_port healthz_port sched_port stream_port
  read -r kubelet_port healthz_port sched_port stream_port <<<"$(free_ports 4)"
  mkdir -p "$CONTAINERD_DIR/cni" "$KUBELET_DIR"
  local kubectl=("$K8S_BIN/kubectl" --kubeconfig "$STATE/kubeconfig")

  # The node's identity and the kubelet API's clients: the node role for group system:nodes, and the apiserver's
  # kubelet client may reach every kubelet API (logs, exec, port-forward).
  "${kubectl[@]}" apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tributary-stack-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:nodes}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tributary-stack-apiserver-kubelet}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}]
YAML

  # ---- containerd: its own root, state and socket; CRI with runc (cgroupfs), a loopback-only CNI network, and
  # oom_score_adj left alone (this machine lacks CAP_SYS_RESOURCE; lowering it fails every sandbox).
  cat > "$CONTAINERD_DIR/cni/10-loopback.conflist" <<'JSON'
{"cniVersion": "0.4.0", "name": "tributary-loopback", "plugins": [{"type": "loopback"}]}
JSON
  cat > "$CONTAINERD_DIR/config.toml" <<TOML
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$CONTAINERD_DIR/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "$stream_port"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CONTAINERD_DIR/cni"
TOML
  start_bg containerd containerd --config "$CONTAINERD_DIR/config.toml"
  wait_for "containerd" 60 ctr --address "$CONTAINERD_SOCKET" version
  "$REPO_ROOT/e2e/image/build" --name "$PAUSE_IMAGE" --binary "$CACHE_ROOT/node/pause/pause" --entrypoint /pause \
    --out "$CONTAINERD_DIR/pause.tar" >/dev/null
  CONTAINERD_SOCKET=$CONTAINERD_SOCKET "$REPO_ROOT/e2e/image/load" "$CONTAINERD_DIR/pause.tar" >/dev/null

  # ---- kube-scheduler
  start_bg kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$STATE/kubeconfig" \
    --authentication-kubeconfig "$STATE/kubeconfig" --authorization-kubeconfig "$STATE/kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$sched_port" --leader-elect=false --v=1

  # ---- kubelet
  cat > "$KUBELET_DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://127.0.0.1:$apiserver_port", certificate-authority: "$STATE/pki/ca.crt"}
users:
- name: node
  user: {client-certificate: "$STATE/pki/kubelet.crt", client-key: "$STATE/pki/kubelet.key"}
contexts:
- name: node
  context: {cluster: e2e, user: node}
current-context: node
KC
  cat > "$KUBELET_DIR/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
tlsCertFile: $STATE/pki/serving.crt
tlsPrivateKeyFile: $STATE/pki/serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
imageServiceEndpoint: unix://$CONTAINERD_SOCKET
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
registerNode: true
serializeImagePulls: false
# Images are imported, never pulled: image garbage collection must not delete them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
maxPods: 110
YAML
  start_bg kubelet "$K8S_BIN/kubelet" --config "$KUBELET_DIR/config.yaml" --kubeconfig "$KUBELET_DIR/kubeconfig" \
    --root-dir "$KUBELET_DIR" --hostname-override "$NODE_NAME" --v=1
  wait_for "node $NODE_NAME Ready" 120 node_ready
  cat >> "$STATE/ports.env" <<ENV
CONTAINERD_SOCKET=$CONTAINERD_SOCKET
KUBELET_PORT=$kubelet_port
NODE_NAME=$NODE_NAME
ENV
}

# node_ready: the node is Ready, has 127.0.0.1 as its only address, and carries no taint.
node_ready() {
  local out
  out=$("$K8S_BIN/kubectl" --kubeconfig "$STATE/kubeconfig" get node "$NODE_NAME" -o \
    jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status}{end} {.status.addresses[*].address} taints={.spec.taints}')
  [ "$out" = "True 127.0.0.1 127.0.0.1 taints=" ]
}

# node_stop: kubelet first (so that it restarts nothing), then every container it started, containerd, and what
# kubelet and containerd leave behind: mounts under the state folder, kubepods cgroups, pod log folders.
node_stop() {
  stop_pid kubelet
  stop_pid kube-scheduler
  if pid_alive containerd; then
    local c
    for c in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    # A task whose kill did not take (seen after tests were interrupted: `tasks delete -f` then hung for minutes):
    # its process, by the PID containerd records for it.
    sleep 0.5
    local p
    for p in $(ctr_node tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" && $2 > 0 {print $2}'); do
      kill -KILL "$p" 2>/dev/null || true
    done
    for _ in $(seq 1 50); do [ -z "$(ctr_node tasks ls -q 2>/dev/null | head -n1)" ] && break
      for c in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks delete -f "$c" >/dev/null 2>&1 || true; done; sleep 0.2; done
    for c in $(ctr_node containers ls -q 2>/dev/null); do ctr_node containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  # Mounts under the state folder (container root filesystems, sandbox shm, pod volumes, kubelet's bind mount of its
  # root dir), deepest first.
  local m
  for m in $(awk -v s="$STATE/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h/kubepods" ] && find "$h/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf /var/log/pods /var/log/containers /var/lib/kubelet/device-plugins/kubelet.sock /run/containerd/s /run/containerd/fifo \
    /run/containerd/runc/k8s.io 2>/dev/null || true
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet /run/containerd/runc /run/containerd 2>/dev/null || true
  return 0
}
