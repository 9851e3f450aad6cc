//! Committed group offsets: stored in the replicated `__consumer_offsets`
//! topic, answered by any broker, surviving the coordinator's SIGKILL.

mod common;

use common::{start, wait_for, TestCluster, Topics};
use serde_json::{json, Value};
use std::time::Duration;

async fn rf3_cluster() -> TestCluster {
    let controller = &[("broker_session_timeout_ms", "2000")];
    start(
        1,
        3,
        controller,
        &[
            ("heartbeat_interval_ms", "250"),
            ("replica_lag_time_max_ms", "2000"),
        ],
    )
    .await
}

/// After the coordinator died: another broker and the offsets it answers for `group`.
async fn offsets_after_failover(
    tc: &TestCluster,
    dead: &str,
    group: &str,
) -> (&'static str, Value) {
    let survivor = ["broker-1", "broker-2", "broker-3"]
        .into_iter()
        .find(|b| *b != dead)
        .unwrap();
    let url = format!("{}/v1/groups/{group}/offsets", tc.url(survivor));
    let after = wait_for(Duration::from_secs(30), || async {
        let (s, v) = tc.get(&url).await;
        (s == 200).then_some(v)
    })
    .await
    .expect("a new coordinator answers");
    (survivor, after)
}

/// The broker coordinating `group` and its `__consumer_offsets` partition.
async fn coordinator_of(tc: &TestCluster, group: &str) -> (String, u32) {
    let (_, meta) = tc
        .get(&format!(
            "{}/v1/metadata?topics=__consumer_offsets",
            tc.url("broker-1")
        ))
        .await;
    let parts = meta["topics"][0]["partitions"].as_array().unwrap();
    let p = ferry_common::partitioner::partition_for_key(group.as_bytes(), parts.len() as u32);
    (format!("broker-{}", parts[p as usize]["leader"]), p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_committed_offsets_any_broker_answers_and_they_survive_coordinator_failover() {
    let tc = rf3_cluster().await;
    tc.create_topic("events", 2, 3, json!({})).await;
    let (s, v) = tc.post(&format!("{}/v1/topics/events/records", tc.url("broker-1")), &json!({"records": [{"value": "a", "partition": 0}, {"value": "b", "partition": 0}, {"value": "c", "partition": 1}]})).await;
    assert_eq!(s, 200, "{v}");

    let commit = json!({"offsets": [{"topic": "events", "partition": 0, "offset": 1, "metadata": "m"}, {"topic": "events", "partition": 1, "offset": 1}]});
    // The offsets topic is created on first use: retriable until it exists.
    let committed = wait_for(Duration::from_secs(30), || async {
        let (s, v) = tc
            .post(
                &format!("{}/v1/groups/billing/offsets", tc.url("broker-1")),
                &commit,
            )
            .await;
        if s != 200 {
            assert_eq!(v["retriable"], true, "{v}");
        }
        (s == 200).then_some(v)
    })
    .await
    .expect("commit accepted");
    assert_eq!(
        committed["offsets"].as_array().unwrap().len(),
        2,
        "{committed}"
    );

    for b in ["broker-1", "broker-2", "broker-3"] {
        let (s, v) = tc
            .get(&format!(
                "{}/v1/groups/billing/offsets?topic=events",
                tc.url(b)
            ))
            .await;
        assert_eq!(s, 200, "{b}: {v}");
        let p0 = v["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["partition"] == 0)
            .cloned()
            .unwrap();
        assert_eq!(
            (p0["offset"].as_u64(), p0["metadata"].as_str()),
            (Some(1), Some("m")),
            "{b}: {v}"
        );
    }

    // Kill the coordinator: the offsets live on in the replicated topic.
    let (coordinator, _) = coordinator_of(&tc, "billing").await;
    tc.kill(&coordinator);
    let (survivor, after) = offsets_after_failover(&tc, &coordinator, "billing").await;
    let offsets: Vec<(u64, u64)> = after["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["partition"].as_u64().unwrap(),
                o["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(offsets, vec![(0, 1), (1, 1)], "{after}");

    // Bad input gets its code.
    let bad = |v: Value| v["error_code"].as_str().unwrap_or_default().to_string();
    let (_, v) = tc
        .post(
            &format!("{}/v1/groups/billing/offsets", tc.url(survivor)),
            &json!({"offsets": []}),
        )
        .await;
    assert_eq!(bad(v), "INVALID_REQUEST");
    let (_, v) = tc
        .post(
            &format!("{}/v1/groups/billing/offsets", tc.url(survivor)),
            &json!({"offsets": [{"topic": "nope", "partition": 0, "offset": 1}]}),
        )
        .await;
    assert_eq!(bad(v), "UNKNOWN_TOPIC_OR_PARTITION");
    let (_, v) = tc
        .post(
            &format!("{}/v1/groups/bad%20group/offsets", tc.url(survivor)),
            &commit,
        )
        .await;
    assert_eq!(bad(v), "INVALID_REQUEST");
    let (_, v) = tc
        .post(
            &format!("{}/v1/groups/billing/offsets", tc.url(survivor)),
            &json!({"offsets": [{"topic": "events", "partition": 0, "offset": -1}]}),
        )
        .await;
    assert_eq!(bad(v), "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_many_commits_of_few_keys_the_offsets_partition_is_compacted_and_survives_failover() {
    let tc = rf3_cluster().await;
    tc.create_topic("busy", 1, 1, json!({})).await;
    let url = format!("{}/v1/groups/hot/offsets", tc.url("broker-1"));
    let commit = |n: u64| json!({"offsets": [{"topic": "busy", "partition": 0, "offset": n}]});
    wait_for(Duration::from_secs(30), || async {
        (tc.post(&url, &commit(0)).await.0 == 200).then_some(())
    })
    .await
    .expect("first commit");
    for n in 1..=1300u64 {
        let (s, v) = tc.post(&url, &commit(n)).await;
        assert_eq!(s, 200, "commit {n}: {v}");
    }
    // The coordinator's partition was compacted: its log start moved past the old commits.
    let (coordinator, p) = coordinator_of(&tc, "hot").await;
    let p = p as u64;
    let (_, replicas) = tc
        .get(&format!(
            "{}/v1/replicas?topic=__consumer_offsets",
            tc.url(&coordinator)
        ))
        .await;
    let status: Value = replicas["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partition"] == p)
        .cloned()
        .unwrap();
    assert!(
        status["log_start_offset"].as_u64().unwrap() > 1000,
        "compacted: {status}"
    );
    assert!(
        status["log_end_offset"].as_u64().unwrap() - status["log_start_offset"].as_u64().unwrap()
            < 1100,
        "{status}"
    );

    tc.kill(&coordinator);
    let (_, after) = offsets_after_failover(&tc, &coordinator, "hot").await;
    assert_eq!(
        after["offsets"][0]["offset"], 1300,
        "the latest commit survived compaction and failover: {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_partitions_led_by_other_brokers_the_group_reports_lag_for_every_partition() {
    let tc = rf3_cluster().await;
    // RF 1 over three brokers: the coordinator leads at most a third of them.
    tc.create_topic("spread", 6, 1, json!({})).await;
    let records: Vec<Value> = (0..6)
        .flat_map(|p| {
            [
                json!({"value": "a", "partition": p}),
                json!({"value": "b", "partition": p}),
            ]
        })
        .collect();
    let (s, v) = tc
        .post(
            &format!("{}/v1/topics/spread/records", tc.url("broker-1")),
            &json!({ "records": records }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let commit = json!({"offsets": (0..6).map(|p| json!({"topic": "spread", "partition": p, "offset": 1})).collect::<Vec<_>>()});
    let url = format!("{}/v1/groups/spread-readers/offsets", tc.url("broker-2"));
    wait_for(Duration::from_secs(30), || async {
        let (s, _) = tc.post(&url, &commit).await;
        (s == 200).then_some(())
    })
    .await
    .expect("commit accepted");
    let (s, v) = tc.get(&url).await;
    assert_eq!(s, 200, "{v}");
    let lags: Vec<Option<u64>> = v["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["lag"].as_u64())
        .collect();
    assert_eq!(lags, vec![Some(1); 6], "{v}");
}
