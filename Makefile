# Tributary — the commands a developer and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
STACK := e2e/stack
BROKERS ?= 3

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

demo: ## Set everything up, run the operator on the local stack with config/samples applied
	e2e/demo.sh

test: ## Formatting, clippy, unit tests, CRD check, and the end-to-end suite against the real stack
	e2e/run-tests.sh

lint: ## cargo fmt --check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: ## Unit tests (no stack needed)
	$(CARGO) test --workspace --locked --lib --bins
	$(CARGO) test -p tributary --locked --tests

crds: ## Regenerate crds/ (and the chart's CRDs) from the Rust types
	$(CARGO) run -q -p tributary -- crds --out-dir crds
	@if [ -d charts/tributary/crds ]; then cp crds/*.yaml charts/tributary/crds/; fi

bench-redrive: ## Benchmark: unthrottled redrive of 1,000,000 records beside a kcat pipe (needs make stack-up)
	$(CARGO) build --profile dist -p tributary --bin tributary
	$(CARGO) build --release -p tributary-e2e --bin bench_redrive
	. $(STACK)/env.sh && TRIBUTARY_BIN=target/dist/tributary target/release/bench_redrive $(BENCH_ARGS)

stack-up: ## Start the local stack (BROKERS=3 by default)
	$(STACK)/up --brokers $(BROKERS)

stack-down: ## Stop the local stack
	$(STACK)/down

.PHONY: help demo test lint unit crds stack-up stack-down bench-redrive

bench-lag: ## Benchmark: ConsumerGroup burst → /scale reaction and lag cost of 200 groups, KEDA beside it (needs make stack-up)
	$(CARGO) build --profile dist -p tributary --bin tributary
	$(CARGO) build --release -p tributary-e2e --bin bench_lag
	@# KEDA (built from the Go module proxy, behind the apiserver's aggregation layer): the bench skips it, and says
	@# so, when it cannot start; SKIP_KEDA=1 does not start it.
	@if [ -z "$(SKIP_KEDA)" ]; then $(STACK)/keda up || echo "KEDA not started: bench_lag runs without it"; fi
	. $(STACK)/env.sh && TRIBUTARY_BIN=$${CARGO_TARGET_DIR:-target}/dist/tributary $${CARGO_TARGET_DIR:-target}/release/bench_lag $(BENCH_ARGS)

.PHONY: bench-lag

bench-topics: ## Benchmark: 1,000 and 10,000 new Topics → Ready, against a plain batched rdkafka client (needs make stack-up)
	$(CARGO) build --profile dist -p tributary --bin tributary
	$(CARGO) build --release -p tributary-e2e --bin bench_topics
	. $(STACK)/env.sh && TRIBUTARY_BIN=target/dist/tributary target/release/bench_topics --topics 1000
	. $(STACK)/env.sh && TRIBUTARY_BIN=target/dist/tributary target/release/bench_topics --topics 10000

.PHONY: bench-topics

# The operator's build in its image: dist (as shipped); `make test` builds it with release (see e2e/run-tests.sh).
OPERATOR_PROFILE ?= dist

image: ## Build the operator and replica-consumer (+ demo producer) images into target/images/; load them into the node if up
	$(CARGO) build --profile $(OPERATOR_PROFILE) --locked -p tributary --bin tributary
	$(CARGO) build --release --locked -p tributary-e2e --bin replica_consumer --bin demo_producer
	e2e/image/build --name tributary.local/tributary:dev --binary target/$(OPERATOR_PROFILE)/tributary \
		--out target/images/tributary.tar --entrypoint /tributary --cmd 'run --http-addr 0.0.0.0:8080' \
		--user 65532:65532 --expose 8080 --label org.opencontainers.image.title=tributary \
		--label org.opencontainers.image.source=https://github.com/tributary-dev/tributary \
		--label org.opencontainers.image.licenses=Apache-2.0
	e2e/image/build --name tributary.local/replica-consumer:dev --binary target/release/replica_consumer \
		--out target/images/replica-consumer.tar --entrypoint /replica_consumer --user 65532:65532 \
		--file target/release/demo_producer:/demo_producer
	@. $(STACK)/env.sh 2>/dev/null; \
	if [ -n "$${CONTAINERD_SOCKET:-}" ]; then \
		e2e/image/load target/images/tributary.tar target/images/replica-consumer.tar; \
	else \
		echo "no stack with a containerd node is up: images built, not loaded (make stack-up, then make image)"; \
	fi

.PHONY: image

bench-topology: ## Benchmark: drawing the map of 500 topics and 200 groups in every format, against Graphviz's dot (no stack)
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null); } || echo "graphviz not installed: no baseline"
	$(CARGO) build --release -p tributary-e2e --bin bench_topology
	target/release/bench_topology $(BENCH_ARGS)

.PHONY: bench-topology

faults: ## Fault scenarios (numbered, each prints a FIGURE line) on a 3-broker stack behind Toxiproxy; not part of make test
	$(STACK)/up --brokers 3 --no-node --fault-proxy
	$(CARGO) build -p tributary
	. $(STACK)/env.sh && $(CARGO) test -p tributary-e2e --test faults --test soak -- --ignored --test-threads=1 --nocapture $(FAULTS_ARGS) \
		2>&1 | tee $${TRIBUTARY_STACK_DIR:-e2e/.stack}/logs/faults.out; exit $${PIPESTATUS[0]}
	@# F7: the bad-input corpus at volume (220 invalid manifests per kind) and the idempotence of random valid specs.
	. $(STACK)/env.sh && BAD_INPUT_PER_KIND=$${BAD_INPUT_PER_KIND:-220} $(CARGO) test -p tributary-e2e --test bad_input \
		-- --test-threads=1 --nocapture $(FAULTS_ARGS) 2>&1 | tee -a $${TRIBUTARY_STACK_DIR:-e2e/.stack}/logs/faults.out; \
		exit $${PIPESTATUS[0]}
	@grep -o 'FIGURE.*' $${TRIBUTARY_STACK_DIR:-e2e/.stack}/logs/faults.out || true

.PHONY: faults

bad-input: ## The bad-input corpus at volume (220 invalid manifests per kind) and the idempotence check (needs make stack-up)
	$(CARGO) build -p tributary
	. $(STACK)/env.sh && BAD_INPUT_PER_KIND=$${BAD_INPUT_PER_KIND:-220} $(CARGO) test -p tributary-e2e --test bad_input -- --test-threads=1 --nocapture

.PHONY: bad-input
