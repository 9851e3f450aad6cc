//! Multi-process replication tests: RF 3 on 3 brokers, faults by SIGKILL,
//! SIGSTOP and restart, checked against what was acknowledged.

mod common;

use common::replication::{
    assert_acked_present_once, log_bytes, name_of, partition_state, replica_offsets, spawn_producer,
};
use common::{start, wait_for, TestCluster, Topics};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONTROLLER: &[(&str, &str)] = &[
    ("broker_session_timeout_ms", "2000"),
    ("leader_rebalance_interval_ms", "1000"),
];
const BROKER: &[(&str, &str)] = &[
    ("heartbeat_interval_ms", "250"),
    ("replica_lag_time_max_ms", "2000"),
];

async fn rf3_cluster(topic: &str) -> TestCluster {
    let tc = start(1, 3, CONTROLLER, BROKER).await;
    tc.create_topic(topic, 1, 3, json!({"min.insync.replicas": 2}))
        .await;
    tc
}

fn broker_urls(tc: &TestCluster) -> Vec<String> {
    tc.broker_urls()
}

/// Waits until the controller reports an ISR of `n` members; the state then.
async fn isr_of_size(tc: &TestCluster, topic: &str, n: usize, within: Duration) -> Value {
    wait_for(within, || async {
        let p = partition_state(tc, topic).await;
        (p["isr"].as_array()?.len() == n && !p["leader"].is_null()).then_some(p)
    })
    .await
    .unwrap_or_else(|| panic!("ISR of {n} within {within:?}"))
}

/// Waits until `acked` has grown by `more`.
async fn acks_grow(acked: &common::replication::Acked, more: usize, within: Duration) {
    let target = acked.lock().unwrap().len() + more;
    let ok = wait_for(within, || async {
        (acked.lock().unwrap().len() >= target).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "acks=all produce progressed by {more} within {within:?}"
    );
}

/// Waits until every named replica has LEO == HW == leader's LEO, then checks
/// their logs are byte-identical.
async fn replicas_identical(tc: &TestCluster, topic: &str, names: &[String]) {
    let converged = wait_for(Duration::from_secs(20), || async {
        let mut offs = Vec::new();
        for n in names {
            offs.push(replica_offsets(tc, n, topic).await?);
        }
        let (leo, _) = offs[0];
        offs.iter()
            .all(|(l, h)| *l == leo && *h == leo)
            .then_some(())
    })
    .await;
    assert!(converged.is_some(), "replicas {names:?} converged");
    let first = log_bytes(tc.dir(), &names[0], topic);
    for n in &names[1..] {
        assert!(
            log_bytes(tc.dir(), n, topic) == first,
            "{n}'s log is byte-identical to {}'s",
            names[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_acks_all_producers_when_the_leader_is_sigkilled_should_lose_nothing_and_the_old_leader_should_rejoin(
) {
    let tc = rf3_cluster("ha").await;
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, producer) = spawn_producer(
        tc.http().clone(),
        broker_urls(&tc),
        "ha".into(),
        stop.clone(),
    );
    acks_grow(&acked, 200, Duration::from_secs(30)).await;

    let before = partition_state(&tc, "ha").await;
    let old = name_of(&before["leader"]);
    tc.kill(&old);
    let after = wait_for(Duration::from_secs(15), || async {
        let p = partition_state(&tc, "ha").await;
        (!p["leader"].is_null() && p["leader"] != before["leader"]).then_some(p)
    })
    .await
    .expect("a new leader from the ISR");
    assert!(
        before["isr"].as_array().unwrap().contains(&after["leader"]),
        "new leader came from the ISR"
    );
    assert_eq!(
        after["leader_epoch"].as_u64().unwrap(),
        before["leader_epoch"].as_u64().unwrap() + 1
    );
    acks_grow(&acked, 200, Duration::from_secs(30)).await;
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();

    let live: Vec<String> = ["broker-1", "broker-2", "broker-3"]
        .iter()
        .map(|s| s.to_string())
        .filter(|n| *n != old)
        .collect();
    replicas_identical(&tc, "ha", &live).await;
    let leader_url = tc.url(&name_of(&after["leader"]));
    let records = tc.fetch_all(&leader_url, "ha", 0, 0).await;
    assert_acked_present_once(&records, &acked.lock().unwrap());

    // The old leader comes back: truncates whatever diverged, catches up, rejoins.
    tc.start(&old);
    tc.wait_ready(&old, Duration::from_secs(30)).await;
    isr_of_size(&tc, "ha", 3, Duration::from_secs(30)).await;
    replicas_identical(
        &tc,
        "ha",
        &["broker-1".into(), "broker-2".into(), "broker-3".into()],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_sigstopped_follower_it_should_leave_the_isr_and_rejoin_after_sigcont() {
    let tc = rf3_cluster("pause").await;
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, producer) = spawn_producer(
        tc.http().clone(),
        broker_urls(&tc),
        "pause".into(),
        stop.clone(),
    );
    acks_grow(&acked, 50, Duration::from_secs(30)).await;
    let p = partition_state(&tc, "pause").await;
    let follower = p["isr"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| **b != p["leader"])
        .map(name_of)
        .unwrap();
    tc.pause(&follower);
    isr_of_size(&tc, "pause", 2, Duration::from_secs(20)).await;
    acks_grow(&acked, 100, Duration::from_secs(20)).await;
    tc.resume(&follower);
    isr_of_size(&tc, "pause", 3, Duration::from_secs(30)).await;
    acks_grow(&acked, 50, Duration::from_secs(20)).await;
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    replicas_identical(
        &tc,
        "pause",
        &["broker-1".into(), "broker-2".into(), "broker-3".into()],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_two_of_three_replicas_down_acks_all_should_be_refused_without_appending_and_acks_1_should_work(
) {
    let tc = rf3_cluster("minisr").await;
    let p = partition_state(&tc, "minisr").await;
    let leader = name_of(&p["leader"]);
    let url = format!("{}/v1/topics/minisr/partitions/0/records", tc.url(&leader));
    let (s, v) = tc
        .post(
            &url,
            &json!({"records": [{"value": "first"}], "acks": "all"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let followers: Vec<String> = p["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| **b != p["leader"])
        .map(name_of)
        .collect();
    for f in &followers {
        tc.kill(f);
    }
    isr_of_size(&tc, "minisr", 1, Duration::from_secs(20)).await;
    let (leo_before, _) = replica_offsets(&tc, &leader, "minisr").await.unwrap();
    let (s, v) = tc
        .post(
            &url,
            &json!({"records": [{"value": "refused"}], "acks": "all"}),
        )
        .await;
    assert_eq!(v["error_code"], "NOT_ENOUGH_REPLICAS", "{s} {v}");
    let (leo_after, _) = replica_offsets(&tc, &leader, "minisr").await.unwrap();
    assert_eq!(leo_before, leo_after, "nothing was appended");
    let (s, v) = tc
        .post(&url, &json!({"records": [{"value": "acks1"}], "acks": "1"}))
        .await;
    assert_eq!(s, 200, "acks=1 still works: {v}");

    tc.start(&followers[0]);
    tc.wait_ready(&followers[0], Duration::from_secs(30)).await;
    isr_of_size(&tc, "minisr", 2, Duration::from_secs(30)).await;
    let ok = wait_for(Duration::from_secs(20), || async {
        let leader =
            common::replication::find_leader(tc.http(), &tc.broker_urls(), "minisr").await?;
        let u = format!("{leader}/v1/topics/minisr/partitions/0/records");
        let (s, _) = tc
            .post(
                &u,
                &json!({"records": [{"value": "resumed"}], "acks": "all", "timeout_ms": 3000}),
            )
            .await;
        (s == 200).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "acks=all resumes once the ISR is back to min.insync.replicas"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_repeated_leader_changes_no_acknowledged_record_is_lost_and_replicas_do_not_diverge()
{
    let tc = rf3_cluster("churn").await;
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, producer) = spawn_producer(
        tc.http().clone(),
        broker_urls(&tc),
        "churn".into(),
        stop.clone(),
    );
    acks_grow(&acked, 50, Duration::from_secs(30)).await;
    for round in 0..3 {
        let p = partition_state(&tc, "churn").await;
        let victim = name_of(&p["leader"]);
        tc.kill(&victim);
        let moved = wait_for(Duration::from_secs(15), || async {
            let q = partition_state(&tc, "churn").await;
            (!q["leader"].is_null() && q["leader"] != p["leader"]).then_some(())
        })
        .await;
        assert!(moved.is_some(), "round {round}: leadership moved");
        acks_grow(&acked, 20, Duration::from_secs(30)).await;
        tc.start(&victim);
        tc.wait_ready(&victim, Duration::from_secs(30)).await;
        isr_of_size(&tc, "churn", 3, Duration::from_secs(30)).await;
    }
    acks_grow(&acked, 20, Duration::from_secs(30)).await;
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let all: Vec<String> = vec!["broker-1".into(), "broker-2".into(), "broker-3".into()];
    replicas_identical(&tc, "churn", &all).await;
    let leader = common::replication::find_leader(tc.http(), &tc.broker_urls(), "churn")
        .await
        .unwrap();
    let records = tc.fetch_all(&leader, "churn", 0, 0).await;
    assert_acked_present_once(&records, &acked.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_sigterm_on_a_leader_leadership_should_move_before_it_exits() {
    // A long session timeout: only controlled shutdown can move leadership quickly.
    let tc = start(1, 3, &[("broker_session_timeout_ms", "60000")], BROKER).await;
    tc.create_topic("graceful", 1, 3, json!({"min.insync.replicas": 2}))
        .await;
    let url = |tc: &TestCluster, b: &str| {
        format!("{}/v1/topics/graceful/partitions/0/records", tc.url(b))
    };
    let p = partition_state(&tc, "graceful").await;
    let leader = name_of(&p["leader"]);
    let (s, v) = tc
        .post(
            &url(&tc, &leader),
            &json!({"records": [{"value": "before"}], "acks": "all"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let started = std::time::Instant::now();
    tc.stop(&leader);
    let moved = wait_for(Duration::from_secs(10), || async {
        let q = partition_state(&tc, "graceful").await;
        (!q["leader"].is_null() && q["leader"] != p["leader"]).then_some(q)
    })
    .await
    .expect("leadership moved by controlled shutdown, well before the 60 s session timeout");
    assert!(started.elapsed() < Duration::from_secs(20));
    let new_leader = name_of(&moved["leader"]);
    let (s, v) = tc
        .post(
            &url(&tc, &new_leader),
            &json!({"records": [{"value": "after"}], "acks": "all", "timeout_ms": 5000}),
        )
        .await;
    assert_eq!(s, 200, "acks=all continues on the new leader: {v}");
    let records = tc.fetch_all(&tc.url(&new_leader), "graceful", 0, 0).await;
    let values: Vec<&str> = records.iter().filter_map(|r| r["value"].as_str()).collect();
    assert_eq!(values, vec!["before", "after"]);
}
