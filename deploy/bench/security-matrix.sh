#!/usr/bin/env bash
# Produce throughput with issue 12's security on vs off, in one run:
# RF 1 and RF 3 (min.insync.replicas=2), batch 100 and 1000, acks=all, 100 B
# values, 3 partitions, 3 producers.
#   off: plain HTTP, client_auth "none", authorizer "none" (the quickstart).
#   on, WHAT=all (default): TLS (ferry-local --tls), client_auth "basic",
#        authorizer "acl" with allow_everyone_if_no_acl_found = false; the
#        bench runs as an ordinary user `bench` (not a super user, so every
#        request is decided by ACLs): All on Topic PREFIXED "t-", Create and
#        IdempotentWrite on Cluster.
#   on, WHAT=tls: TLS only, no client auth, no authorizer.
# Two clusters run side by side (1 controller, 3 brokers each; off on BASE_PORT,
# default 7600, on at BASE_PORT+200); one is loaded at a time and the order
# alternates per trial, so a drifting machine favours neither side.
#
#   deploy/bench/security-matrix.sh [TRIALS] [WHAT]     (default 3 all)
#
# Needs the release binaries (`cargo build --release -p ferry-bench
# -p ferry-local-cluster -p ferry-broker -p ferry-controller -p ferry-cli`);
# RECORDS (default 300000) records per run at batch 100, twice that at 1000.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
trials="${1:-3}"
what="${2:-all}"
[[ $what == all || $what == tls ]] || { echo "WHAT is all or tls, not '$what'" >&2; exit 2; }
base="${BASE_PORT:-7600}"
records="${RECORDS:-300000}"
work="$(mktemp -d)"
cleanup() {
  "$bin/ferry-local" down --dir "$work/off" >/dev/null 2>&1 || true
  "$bin/ferry-local" down --dir "$work/on" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
admin_pw="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
bench_pw="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
printf '%s' "$admin_pw" > "$work/admin.password"
"$bin/ferry-local" up --dir "$work/off" --controllers 1 --brokers 3 --base-port "$base" >/dev/null
secure=(--set 'security.client_auth="basic"' --set 'security.authorizer="acl"'
  --set 'security.allow_everyone_if_no_acl_found=false' --set 'security.super_users=["User:admin"]'
  --set 'security.bootstrap_user="admin"' --set "security.bootstrap_password_file=\"$work/admin.password\""
  --broker-set 'security.client_auth="basic"' --broker-set 'security.authorizer="acl"'
  --broker-set 'security.allow_everyone_if_no_acl_found=false' --broker-set 'security.super_users=["User:admin"]')
[[ $what == tls ]] && secure=()
"$bin/ferry-local" up --dir "$work/on" --controllers 1 --brokers 3 --base-port $((base + 200)) --tls "${secure[@]}" >/dev/null
ca="$work/on/tls/ca.pem"
as_bench=()
if [[ $what == all ]]; then
  admin=("$bin/ferry" --bootstrap "https://127.0.0.1:$((base + 201))" --ca-file "$ca" --user admin --password "$admin_pw")
  # The bootstrap user appears once the controller has committed it.
  for _ in $(seq 1 100); do "${admin[@]}" users list >/dev/null 2>&1 && break; sleep 0.2; done
  printf '%s\n' "$bench_pw" | "${admin[@]}" users create bench --password-stdin >/dev/null
  "${admin[@]}" acls create --allow-principal User:bench --operation All --topic t- --resource-pattern-type prefixed >/dev/null
  "${admin[@]}" acls create --allow-principal User:bench --operation Create --operation IdempotentWrite --cluster >/dev/null
  as_bench=(--user bench --password "$bench_pw")
fi
run() { # MODE RF BATCH TRIAL
  local mode=$1 rf=$2 batch=$3 trial=$4 n=$records args extra=()
  [[ $batch == 1000 ]] && n=$((records * 2))
  if [[ $mode == on ]]; then
    args=(--broker "https://127.0.0.1:$((base + 301))" --controller "https://127.0.0.1:$((base + 201))"
      --ca-file "$ca" "${as_bench[@]}")
  else
    args=(--broker "http://127.0.0.1:$((base + 101))" --controller "http://127.0.0.1:$((base + 1))")
  fi
  [[ $rf == 3 ]] && extra=(--topic-config min.insync.replicas=2)
  local rate
  rate=$("$bin/ferry-bench" "${args[@]}" --topic "t-$mode-$rf-$batch-$trial" produce --partitions 3 \
    --replication-factor "$rf" "${extra[@]}" --records "$n" --record-size 100 --batch "$batch" \
    --concurrency 3 --acks all | awk '/records\/s/ {print $1}')
  printf '%-4s RF %s batch %-4s trial %s  %s records/s\n' "$mode" "$rf" "$batch" "$trial" "$rate"
}
for trial in $(seq 1 "$trials"); do
  for rf in 1 3; do
    for batch in 100 1000; do
      if ((trial % 2)); then run off $rf $batch "$trial"; run on $rf $batch "$trial"
      else run on $rf $batch "$trial"; run off $rf $batch "$trial"; fi
    done
  done
done
