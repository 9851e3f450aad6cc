#!/usr/bin/env bash
# Peak broker RSS and produce latency under the fetch storm of
# broker/tests/bounds.rs (ferry-fetch-load), variants alternating trial by
# trial, each on a fresh one-broker cluster:
#   after      this tree's binaries, default bounds
#   unbounded  this tree's binaries, fetch and listener bounds raised out of reach
#   before     BEFORE_BIN (binaries of an older commit), when set
#
#   deploy/bench/fetch-load.sh [TRIALS]
#
# Needs `cargo build --release -p ferry-bench -p ferry-local-cluster
# -p ferry-broker -p ferry-controller`. RSS_CAP_MIB (default 6144) kills a
# broker that grows past it (the row says so); the cluster runs on BASE_PORT
# (default 7700).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
trials="${1:-2}"
cap="${RSS_CAP_MIB:-6144}"
base="${BASE_PORT:-7700}"
unbounded=(--broker-set fetch_memory_bytes=1099511627776 --broker-set max_long_polls=1000000000
  --broker-set server.max_connections=1000000000 --broker-set server.max_in_flight_requests=1000000000)
variants=(after unbounded)
[[ -n "${BEFORE_BIN:-}" ]] && variants+=(before)

echo "| variant | fetches | 200 / 503 / other | storm s | MiB answered | RSS before storm MiB | peak RSS (VmHWM) MiB | produce ok / failed | produce p50 ms | p99 ms | max ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for trial in $(seq 1 "$trials"); do
  for v in "${variants[@]}"; do
    case $v in
      after) "$bin/ferry-fetch-load" --bin-dir "$bin" --label after --base-port "$base" --rss-cap-mib "$cap" ;;
      unbounded) "$bin/ferry-fetch-load" --bin-dir "$bin" --label unbounded --base-port "$base" --rss-cap-mib "$cap" "${unbounded[@]}" ;;
      before) "$bin/ferry-fetch-load" --bin-dir "$BEFORE_BIN" --label before --base-port "$base" --rss-cap-mib "$cap" ;;
    esac
  done
done
