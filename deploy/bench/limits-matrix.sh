#!/usr/bin/env bash
# Produce throughput with the server and fetch bounds at their defaults vs
# raised out of reach (and, optionally, a build of an older commit), one
# cluster per variant (1 controller, 3 brokers) up side by side, trials
# alternating between them so a drifting, shared machine favours no side.
#
#   deploy/bench/limits-matrix.sh [TRIALS] [RFS] [BATCHES] [CONCURRENCIES]
#   e.g. deploy/bench/limits-matrix.sh 3 "1 3" "100 1000" "8 64"
#
# BEFORE_BIN=<dir with ferry-local, ferry-broker, ferry-controller> adds a
# third variant run from those binaries (no settings). Needs the release
# binaries of this tree (`cargo build --release -p ferry-bench
# -p ferry-local-cluster -p ferry-broker -p ferry-controller`). Prints one
# row per run (variant, rf, batch, concurrency, trial, records/s, p50, p99,
# failed requests) on stdout; summarise with limits-summary.py.
# Clusters on BASE_PORT (default 7900), +200 and +400.
# acks=all, 100 B values, SECONDS_PER_RUN (default 4) sizes each run from a
# rough rate guess; the records/s printed are measured.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
trials="${1:-3}"
rfs="${2:-1 3}"
batches="${3:-100 1000}"
concs="${4:-8 64}"
secs="${SECONDS_PER_RUN:-4}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ferry-limits-bench.XXXXXX")"
# Settings that put every bound of the listener and the fetch path out of reach.
off=(--broker-set fetch_memory_bytes=1099511627776 --broker-set max_long_polls=1000000000
  --broker-set server.max_connections=1000000000 --broker-set server.max_in_flight_requests=1000000000
  --broker-set server.header_read_timeout_ms=86400000 --broker-set server.body_read_timeout_ms=86400000)

variants=(on off)
base="${BASE_PORT:-7900}"
declare -A vbin=([on]="$bin" [off]="$bin") vbase=([on]=$base [off]=$((base + 200)))
if [[ -n "${BEFORE_BIN:-}" ]]; then
  variants+=(before)
  vbin[before]="$BEFORE_BIN"
  vbase[before]=$((base + 400))
fi

cleanup() {
  for v in "${variants[@]}"; do
    "${vbin[$v]}/ferry-local" down --dir "$tmp/$v" >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
for v in "${variants[@]}"; do
  extra=()
  [[ $v == off ]] && extra=("${off[@]}")
  "${vbin[$v]}/ferry-local" up --dir "$tmp/$v" --controllers 1 --brokers 3 \
    --base-port "${vbase[$v]}" "${extra[@]}" >/dev/null
done

records_for() {
  local batch=$1 conc=$2 rate
  case $batch in
    1) rate=$((conc * 400)) ;;
    10) rate=$((conc * 3000)) ;;
    100) rate=150000 ;;
    *) rate=300000 ;;
  esac
  local n=$((rate * secs)) min=$((batch * conc * 2))
  [[ $n -lt $min ]] && n=$min
  echo $(((n + batch - 1) / batch * batch))
}

run() {
  local v=$1 rf=$2 batch=$3 conc=$4 trial=$5 records=$6
  local base=${vbase[$v]} out
  out="$("$bin/ferry-bench" --broker "http://127.0.0.1:$((base + 101))" \
    --controller "http://127.0.0.1:$((base + 1))" --topic "lm-$rf-$batch-$conc-$trial" \
    produce --partitions 3 --replication-factor "$rf" --records "$records" --record-size 100 \
    --batch "$batch" --concurrency "$conc" --acks all \
    --topic-config "min.insync.replicas=$((rf > 1 ? 2 : 1))")"
  echo "$out" | awk -v v="$v" -v rf="$rf" -v b="$batch" -v c="$conc" -v t="$trial" '
    /requests, / { match($0, /[0-9]+ failed/); failed = substr($0, RSTART, RLENGTH - 7) }
    /records\/s/ { rps = $1; p50 = $(NF - 6); p99 = $(NF - 4) }
    END { printf "%s %s %s %s %s %s %s %s %s\n", v, rf, b, c, t, rps, p50, p99, failed }'
}

echo "variant rf batch concurrency trial records_per_s p50 p99 failed"
cell=0
for trial in $(seq 1 "$trials"); do
  for rf in $rfs; do
    for batch in $batches; do
      for conc in $concs; do
        records="$(records_for "$batch" "$conc")"
        # Rotate which variant goes first, cell by cell.
        n=${#variants[@]}
        for ((i = 0; i < n; i++)); do
          run "${variants[$(((cell + i) % n))]}" "$rf" "$batch" "$conc" "$trial" "$records"
        done
        cell=$((cell + 1))
      done
    done
  done
done
