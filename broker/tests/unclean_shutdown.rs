//! Issue 11 item 3 (KIP-966) as real processes: a replica whose log lost its
//! unsynced tail and restarted without a clean-shutdown marker is not elected
//! from the ISR seat it kept, while a replica that shut down cleanly and holds
//! the full committed log is, and no acknowledged record is lost.
//!
//! The lost tail is a stand-in: the killed broker's active segment is cut back
//! to an earlier length while it is down, which is what a power cut does to a
//! `write.caching=true` log (its page cache never reached the disk). SIGKILL
//! alone keeps the page cache, so the cut is what makes the log short.

mod common;

use common::replication::{assert_acked_present_once, name_of, partition_state, replica_offsets};
use common::{start, wait_for, TestCluster, Topics, FAST_BROKER, FAST_CONTROLLER};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const TOPIC: &str = "short";
const RECORDS: usize = 200;
const WAIT: Duration = Duration::from_secs(20);

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// Waits until the controller's view of the partition satisfies `ok`.
async fn partition_until(tc: &TestCluster, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let found = wait_for(WAIT, || async {
        let p = partition_state(tc, TOPIC).await;
        ok(&p).then_some(p)
    })
    .await;
    match found {
        Some(p) => p,
        None => panic!("{what}: {}", partition_state(tc, TOPIC).await),
    }
}

async fn fenced(tc: &TestCluster, name: &str) -> Option<bool> {
    let (_, v) = tc
        .get(&format!("{}/v1/brokers", tc.url("controller-1")))
        .await;
    v["brokers"]
        .as_array()?
        .iter()
        .find(|b| name_of(&b["id"]) == name)
        .and_then(|b| b["fenced"].as_bool())
}

async fn controller_metric(tc: &TestCluster, metric: &str) -> Option<i64> {
    let text = tc
        .http()
        .get(format!("{}/metrics", tc.url("controller-1")))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(metric) && l[metric.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn active_segment(tc: &TestCluster, broker: &str) -> PathBuf {
    let dir = tc.data_dir(broker).join("logs").join(format!("{TOPIC}-0"));
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs.pop().expect("an active segment")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_log_restarted_uncleanly_is_not_elected_and_the_clean_full_replica_is() {
    let tc = start(1, 3, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic(
        TOPIC,
        1,
        3,
        json!({"min.insync.replicas": 2, "write.caching": true}),
    )
    .await;
    let p = partition_state(&tc, TOPIC).await;
    // short: the leader, whose log will lose its tail; full: shuts down
    // cleanly holding every committed record; other: leaves first.
    let short = name_of(&p["leader"]);
    let others: Vec<String> = tc
        .broker_names()
        .into_iter()
        .filter(|b| *b != short)
        .collect();
    let (full, other) = (others[0].clone(), others[1].clone());

    let mut acked = Vec::new();
    let leader_url = tc.url(&short);
    for i in 0..RECORDS {
        let value = format!("v-{i}-{}", "x".repeat(100));
        let body = json!({"records": [{"value": value}], "acks": "all"});
        let (s, v) = tc
            .post(
                &format!("{leader_url}/v1/topics/{TOPIC}/partitions/0/records"),
                &body,
            )
            .await;
        assert_eq!(s, 200, "acks=all produce: {v}");
        acked.push((v["offsets"][0]["offset"].as_u64().expect("offset"), value));
    }
    for b in tc.broker_names() {
        let caught_up = wait_for(WAIT, || async {
            let (leo, _) = replica_offsets(&tc, &b, TOPIC).await?;
            (leo == RECORDS as u64).then_some(())
        })
        .await;
        assert!(caught_up.is_some(), "{b} holds all {RECORDS} records");
    }

    // other, then full stop gracefully: ISR [short], full in the ELR.
    tc.stop(&other);
    partition_until(&tc, "other left the ISR", |p| ids(&p["isr"]).len() == 2).await;
    tc.stop(&full);
    assert!(
        tc.data_dir(&full).join("clean_shutdown.json").exists(),
        "a graceful shutdown leaves the marker"
    );
    let p = partition_until(&tc, "full moved to the ELR", |p| !p["elr"].is_null()).await;
    assert_eq!(ids(&p["isr"]), ids(&json!([p["leader"]])), "{p}");
    assert_eq!(name_of(&p["elr"][0]), full, "{p}");

    // The leader dies and loses its unsynced tail: a forced election with
    // nobody else up. It keeps its ISR seat as the last member.
    tc.kill(&short);
    partition_until(&tc, "the killed leader is fenced", |p| {
        p["leader"].is_null()
    })
    .await;
    let seg = active_segment(&tc, &short);
    let len = std::fs::metadata(&seg).expect("segment").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open segment");
    file.set_len(len / 3).expect("cut the tail");
    file.sync_all().expect("fsync");
    assert!(
        !tc.data_dir(&short).join("clean_shutdown.json").exists(),
        "SIGKILL leaves no marker"
    );

    tc.start(&short);
    tc.wait_ready(&short, Duration::from_secs(30)).await;
    let unfenced = wait_for(WAIT, || async {
        (fenced(&tc, &short).await == Some(false)).then_some(())
    })
    .await;
    assert!(unfenced.is_some(), "{short} is back and unfenced");
    let p = partition_state(&tc, TOPIC).await;
    assert!(p["leader"].is_null(), "the short log is not elected: {p}");
    assert!(
        !ids(&p["isr"]).contains(&p_id(&short)),
        "{short} left the ISR: {p}"
    );
    assert_eq!(name_of(&p["elr"][0]), full, "full is still eligible: {p}");
    if let Some((leo, _)) = replica_offsets(&tc, &short, TOPIC).await {
        assert!(
            leo < RECORDS as u64,
            "{short}'s log really is short ({leo})"
        );
    }
    assert_eq!(
        controller_metric(&tc, "ferry_controller_broker_unclean_restarts").await,
        Some(1),
        "the controller counted one unclean restart"
    );

    // full restarts cleanly (marker present) and leads from the ELR.
    tc.start(&full);
    let p = partition_until(&tc, "full leads", |p| !p["leader"].is_null()).await;
    assert_eq!(name_of(&p["leader"]), full, "{p}");
    assert_eq!(
        controller_metric(&tc, "ferry_controller_broker_unclean_restarts").await,
        Some(1),
        "a clean restart is not counted"
    );
    tc.start(&other);
    // short rejoins the normal way: catching up with the new leader.
    partition_until(&tc, "short rejoined the ISR", |p| {
        ids(&p["isr"]).contains(&p_id(&short))
    })
    .await;

    let records = tc.fetch_all(&tc.url(&full), TOPIC, 0, 0).await;
    assert_acked_present_once(&records, &acked);
    let caught_up = wait_for(WAIT, || async {
        let (leo, _) = replica_offsets(&tc, &short, TOPIC).await?;
        (leo == RECORDS as u64).then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "{short} fetched back the tail it lost");
}

fn p_id(name: &str) -> u64 {
    name.trim_start_matches("broker-")
        .parse()
        .expect("broker-N")
}
