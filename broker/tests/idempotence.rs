//! Idempotent producer on real processes: retries answered with the original
//! offsets, sequence gaps and fenced epochs refused, and deduplication that
//! survives a leader failover (followers keep producer state from replication).

mod common;

use common::replication::{name_of, partition_state};
use common::{start, wait_for, Topics};
use serde_json::{json, Value};
use std::time::Duration;

const CONTROLLER: &[(&str, &str)] = &[
    ("broker_session_timeout_ms", "2000"),
    ("auto_leader_rebalance_enable", "false"),
];
const BROKER: &[(&str, &str)] = &[
    ("heartbeat_interval_ms", "250"),
    ("replica_lag_time_max_ms", "2000"),
];

fn batch(pid: u64, epoch: i64, seq: i64, values: &[&str]) -> Value {
    let records: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
    json!({"records": records, "acks": "all", "producer_id": pid, "producer_epoch": epoch, "base_sequence": seq, "timeout_ms": 5000})
}

fn offsets(v: &Value) -> Vec<u64> {
    v["offsets"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["offset"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_an_idempotent_producer_retries_are_written_once_even_across_a_leader_failover() {
    let tc = start(1, 3, CONTROLLER, BROKER).await;
    tc.create_topic("idem", 1, 3, json!({"min.insync.replicas": 2}))
        .await;
    let (s, v) = tc
        .post(
            &format!("{}/v1/producer-ids", tc.url("controller-1")),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let pid = v["producer_id"].as_u64().unwrap();
    let (_, v2) = tc
        .post(
            &format!("{}/v1/producer-ids", tc.url("controller-1")),
            &json!({}),
        )
        .await;
    assert_ne!(v2["producer_id"].as_u64().unwrap(), pid, "ids are unique");

    let p = partition_state(&tc, "idem").await;
    let leader = name_of(&p["leader"]);
    let url = |b: &str| format!("{}/v1/topics/idem/partitions/0/records", tc.url(b));

    let (s, first) = tc
        .post(&url(&leader), &batch(pid, 0, 0, &["a", "b", "c"]))
        .await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(offsets(&first), vec![0, 1, 2]);
    let (s, again) = tc
        .post(&url(&leader), &batch(pid, 0, 0, &["a", "b", "c"]))
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        offsets(&again),
        vec![0, 1, 2],
        "a retried batch gets its original offsets"
    );
    let (_, gap) = tc.post(&url(&leader), &batch(pid, 0, 5, &["x"])).await;
    assert_eq!(gap["error_code"], "OUT_OF_ORDER_SEQUENCE_NUMBER", "{gap}");
    let (s, next) = tc.post(&url(&leader), &batch(pid, 0, 3, &["d"])).await;
    assert_eq!((s, offsets(&next)), (200, vec![3]), "{next}");

    // Failover: the new leader learned the producer's batches by replication.
    tc.kill(&leader);
    let new = wait_for(Duration::from_secs(15), || async {
        let q = partition_state(&tc, "idem").await;
        (!q["leader"].is_null() && q["leader"] != p["leader"]).then(|| name_of(&q["leader"]))
    })
    .await
    .expect("new leader");
    let retried = wait_for(Duration::from_secs(15), || async {
        let (s, v) = tc.post(&url(&new), &batch(pid, 0, 3, &["d"])).await;
        (s == 200).then_some(v)
    })
    .await
    .expect("retry accepted by the new leader");
    assert_eq!(
        offsets(&retried),
        vec![3],
        "the retry after failover is a duplicate, not a new record"
    );
    let (s, e) = tc.post(&url(&new), &batch(pid, 1, 0, &["e"])).await;
    assert_eq!(
        (s, offsets(&e)),
        (200, vec![4]),
        "a new epoch starts at sequence 0: {e}"
    );
    let (_, fenced) = tc.post(&url(&new), &batch(pid, 0, 4, &["zombie"])).await;
    assert_eq!(fenced["error_code"], "INVALID_PRODUCER_EPOCH", "{fenced}");

    let records = tc.fetch_all(&tc.url(&new), "idem", 0, 0).await;
    let values: Vec<&str> = records.iter().filter_map(|r| r["value"].as_str()).collect();
    assert_eq!(
        values,
        vec!["a", "b", "c", "d", "e"],
        "every batch exactly once"
    );
    // Half-specified producer fields are refused.
    let (_, bad) = tc
        .post(
            &url(&new),
            &json!({"records": [{"value": "v"}], "producer_id": pid}),
        )
        .await;
    assert_eq!(bad["error_code"], "INVALID_REQUEST");
}
