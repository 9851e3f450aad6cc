#!/usr/bin/env bash
# RF 3 acks=all produce throughput, durable default vs `write.caching=true`,
# interleaved cell by cell in one run (the order alternates per cell, so a
# drifting machine does not favour one side), with the brokers' group-commit
# counters from /metrics: fsyncs/s and records per fsync, summed over the
# three brokers (leader and follower fsyncs alike).
#
#   deploy/bench/durability-matrix.sh [SIZES] [BATCHES] [CONCURRENCIES]
#   e.g. deploy/bench/durability-matrix.sh "100 1024" "1 10 100 1000" "8 64"
#
# Needs the release binaries (`cargo build --release -p ferry-bench
# -p ferry-local-cluster -p ferry-broker -p ferry-controller`). Starts its own
# cluster (1 controller, 3 brokers) on BASE_PORT (default 7900) in a temp dir
# and removes it at the end. SECONDS_PER_RUN (default 4) sizes each run from
# a rough rate guess; the records/s printed are measured, not guessed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
sizes="${1:-100 1024}"
batches="${2:-1 10 100 1000}"
concs="${3:-8 64}"
base="${BASE_PORT:-7900}"
secs="${SECONDS_PER_RUN:-4}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/ferry-durability-bench.XXXXXX")"
controller="http://127.0.0.1:$((base + 1))"
brokers=("http://127.0.0.1:$((base + 101))" "http://127.0.0.1:$((base + 102))" "http://127.0.0.1:$((base + 103))")

cleanup() {
  "$bin/ferry-local" down --dir "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$bin/ferry-local" up --dir "$dir" --controllers 1 --brokers 3 --base-port "$base" >&2

# Sum of a counter over every broker.
counter() {
  local total=0 v
  for b in "${brokers[@]}"; do
    v="$(curl -fsS "$b/metrics" | awk -v m="$1" '$1 == m { printf "%d", $2 }')"
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# Records for about `secs` seconds of one run, from a deliberately rough guess.
records_for() {
  local size=$1 batch=$2 conc=$3 rate
  case $batch in
    1) rate=$((conc * 400)) ;;
    10) rate=$((conc * 3000)) ;;
    100) rate=150000 ;;
    *) rate=300000 ;;
  esac
  [[ $size -gt 200 ]] && rate=$((rate / 3))
  local n=$((rate * secs))
  # Whole requests, at least two per producer.
  local min=$((batch * conc * 2))
  [[ $n -lt $min ]] && n=$min
  echo $(((n + batch - 1) / batch * batch))
}

run() {
  local mode=$1 size=$2 batch=$3 conc=$4 records=$5
  local topic="dm-$mode-$size-$batch-$conc" extra=()
  [[ $mode == caching ]] && extra=(--topic-config write.caching=true)
  local f0 r0 t0 t1 f1 r1 out rps
  f0="$(counter ferry_broker_log_fsyncs_total)"
  r0="$(counter ferry_broker_log_fsync_records_total)"
  t0="$(date +%s.%N)"
  out="$("$bin/ferry-bench" --broker "${brokers[0]}" --controller "$controller" --topic "$topic" \
    produce --partitions 3 --replication-factor 3 --records "$records" --record-size "$size" \
    --batch "$batch" --concurrency "$conc" --acks all \
    --topic-config min.insync.replicas=2 "${extra[@]}")"
  t1="$(date +%s.%N)"
  f1="$(counter ferry_broker_log_fsyncs_total)"
  r1="$(counter ferry_broker_log_fsync_records_total)"
  rps="$(echo "$out" | awk '/records\/s/ { print $1; exit }')"
  local failed
  failed="$(echo "$out" | sed -n 's/.*requests, \([0-9]*\) failed.*/\1/p')"
  awk -v m="$mode" -v s="$size" -v b="$batch" -v c="$conc" -v rps="$rps" -v fl="$failed" \
    -v df="$((f1 - f0))" -v dr="$((r1 - r0))" -v t0="$t0" -v t1="$t1" 'BEGIN {
      el = t1 - t0; fps = el > 0 ? df / el : 0; rpf = df > 0 ? dr / df : 0;
      printf "| %s | %d | %d | %d | %s | %.0f | %.1f | %s |\n", m, s, b, c, rps, fps, rpf, fl }'
}

echo "| mode | value B | batch | concurrency | records/s | fsyncs/s (3 brokers) | records/fsync | failed requests |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
cell=0
for size in $sizes; do
  for batch in $batches; do
    for conc in $concs; do
      records="$(records_for "$size" "$batch" "$conc")"
      if ((cell % 2 == 0)); then order="durable caching"; else order="caching durable"; fi
      for mode in $order; do
        run "$mode" "$size" "$batch" "$conc" "$records"
      done
      cell=$((cell + 1))
    done
  done
done
