#!/usr/bin/env bash
# Installs what the stack's node needs besides kubelet (built by install-k8s.sh): containerd, runc and the CNI
# plugins from Debian, and the sandbox ("pause") program, built here as a static binary. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

if ! command -v containerd >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 || [ ! -x /usr/lib/cni/loopback ]; then
  [ "$(id -u)" = 0 ] || { echo "the node needs containerd, runc and the CNI plugins: run as root, or sudo apt-get install containerd containernetworking-plugins" >&2; exit 1; }
  start=$(date +%s)
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc containernetworking-plugins) >/dev/null
  echo "containerd, runc, CNI plugins installed from Debian in $(( $(date +%s) - start ))s"
fi
echo "containerd: $(containerd --version | awk '{print $3}'), runc: $(runc --version | awk 'NR==1{print $3}')"

# The sandbox of every pod: a process that sleeps until a signal ends it, reaps nothing, needs no library.
out="$CACHE_ROOT/node/pause"
if [ ! -x "$out/pause" ]; then
  mkdir -p "$out"
  cat > "$out/pause.c" <<'C'
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  for (;;) pause();
}
C
  gcc -static -O2 -s -o "$out/pause" "$out/pause.c"
  echo "pause built into $out"
fi
