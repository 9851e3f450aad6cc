#!/usr/bin/env bash
# Produce throughput with TLS on vs off, in one run: RF 1 and RF 3
# (min.insync.replicas=2), batch 100 and 1000, acks=all, 100 B values,
# 3 partitions and 3 producers. Two clusters run side by side (1 controller,
# 3 brokers each; plain on BASE_PORT, default 7400, TLS on BASE_PORT+200);
# only one is loaded at a time and the order alternates per trial, so a
# drifting machine favours neither side.
#
#   deploy/bench/tls-matrix.sh [TRIALS]      (default 3)
#
# Needs the release binaries (`cargo build --release -p ferry-bench
# -p ferry-local-cluster -p ferry-broker -p ferry-controller`); RECORDS
# (default 300000) records per run at batch 100, twice that at batch 1000.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
trials="${1:-3}"
base="${BASE_PORT:-7400}"
records="${RECORDS:-300000}"
work="$(mktemp -d)"
cleanup() {
  "$bin/ferry-local" down --dir "$work/plain" >/dev/null 2>&1 || true
  "$bin/ferry-local" down --dir "$work/tls" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$bin/ferry-local" up --dir "$work/plain" --controllers 1 --brokers 3 --base-port "$base" >/dev/null
"$bin/ferry-local" up --dir "$work/tls" --controllers 1 --brokers 3 --base-port $((base + 200)) --tls >/dev/null
run() { # MODE RF BATCH TRIAL
  local mode=$1 rf=$2 batch=$3 trial=$4 n=$records args extra=()
  [[ $batch == 1000 ]] && n=$((records * 2))
  if [[ $mode == tls ]]; then
    args=(--broker "https://127.0.0.1:$((base + 301))" --controller "https://127.0.0.1:$((base + 201))"
      --ca-file "$work/tls/tls/ca.pem")
  else
    args=(--broker "http://127.0.0.1:$((base + 101))" --controller "http://127.0.0.1:$((base + 1))")
  fi
  [[ $rf == 3 ]] && extra=(--topic-config min.insync.replicas=2)
  local rate
  rate=$("$bin/ferry-bench" "${args[@]}" --topic "t-$mode-$rf-$batch-$trial" produce --partitions 3 \
    --replication-factor "$rf" "${extra[@]}" --records "$n" --record-size 100 --batch "$batch" \
    --concurrency 3 --acks all | awk '/records\/s/ {print $1}')
  printf '%-5s RF %s batch %-4s trial %s  %s records/s\n' "$mode" "$rf" "$batch" "$trial" "$rate"
}
for trial in $(seq 1 "$trials"); do
  for rf in 1 3; do
    for batch in 100 1000; do
      if ((trial % 2)); then run plain $rf $batch "$trial"; run tls $rf $batch "$trial"
      else run tls $rf $batch "$trial"; run plain $rf $batch "$trial"; fi
    done
  done
done
