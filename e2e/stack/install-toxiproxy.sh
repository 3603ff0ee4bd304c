#!/usr/bin/env bash
# Builds Toxiproxy (server and CLI, github.com/Shopify/toxiproxy/v2 from the Go module proxy, pinned in versions.sh)
# into $TOXIPROXY_DIR for the fault scenarios (`make faults`). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
. "$here/lib.sh"
export GOPATH="${GOPATH:-$HOME/go}" GOFLAGS=-buildvcs=false
go_tool_build toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server "$TOXIPROXY_VERSION" "$TOXIPROXY_DIR"
go_tool_build toxiproxy-cli github.com/Shopify/toxiproxy/v2/cmd/cli "$TOXIPROXY_VERSION" "$TOXIPROXY_DIR"
