#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: lint, unit tests, the CRD check, then the end-to-end tests
# against the real stack with its node (started here, stopped at the end unless KEEP_STACK=1); the operator and
# consumer images are built and loaded into the node first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
t0=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - t0 ))s)"; }

step "lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit tests"
cargo test --workspace --locked --lib --bins
cargo test -p tributary --locked --tests

step "crds/ up to date"
cargo run -q -p tributary -- crds --out-dir crds
git diff --exit-code -- crds/ || { echo "crds/ differs from the generated CRDs: run make crds and commit"; exit 1; }

step "stack"
e2e/stack/up --brokers "${BROKERS:-3}"
# shellcheck disable=SC1091
. e2e/stack/env.sh
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "=== failure: tails of the stack logs in $TRIBUTARY_STACK_LOGS"
    for f in "$TRIBUTARY_STACK_LOGS"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
  fi
  [ "${KEEP_STACK:-0}" = 1 ] || e2e/stack/down --keep-logs >/dev/null
  exit "$rc"
}
trap cleanup EXIT

step "images (release builds), loaded into the node"
# The operator as the release build, not the shipped dist build: the same code, but dist compiles every dependency a
# second time (fat LTO), some 12 minutes more on a 2-core CI machine. Benchmarks and `make image` use dist.
make --no-print-directory image OPERATOR_PROFILE=release

step "end-to-end tests"
cargo build -p tributary --locked
cargo test -p tributary-e2e --locked --tests -- --test-threads="${E2E_THREADS:-1}"
step "done"
