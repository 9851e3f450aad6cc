//! Multi-process tests of fast fencing: a SIGKILLed leader is replaced on the
//! evidence of refused connections, long before its session could expire; a
//! SIGSTOPped one, whose kernel still accepts connections, is left to the
//! session timeout.

mod common;

use common::replication::{assert_acked_present_once, name_of, partition_state, spawn_producer};
use common::{start, wait_for, TestCluster, Topics};
use ferry_http::auth::NodeIdentity;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BROKER: &[(&str, &str)] = &[
    ("heartbeat_interval_ms", "250"),
    ("replica_lag_time_max_ms", "2000"),
];

/// Brokers as the controller lists them, by name.
async fn broker(tc: &TestCluster, name: &str) -> Value {
    let (_, v) = tc
        .get(&format!("{}/v1/brokers", tc.url("controller-1")))
        .await;
    v["brokers"]
        .as_array()
        .and_then(|bs| bs.iter().find(|b| name_of(&b["id"]) == name).cloned())
        .unwrap_or_else(|| panic!("{name} is registered: {v}"))
}

/// Waits until the acknowledged count reaches `n`.
async fn acked_at_least(acked: &common::replication::Acked, n: usize, within: Duration) {
    let ok = wait_for(within, || async {
        (acked.lock().unwrap().len() >= n).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "{n} acks=all records acknowledged within {within:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_sigkilled_leader_under_acks_all_load_it_is_fenced_and_replaced_long_before_its_session_expires(
) {
    // Sessions of 60 s: within this test only the refused-connection path
    // can fence the killed leader.
    let tc = start(1, 3, &[("broker_session_timeout_ms", "60000")], BROKER).await;
    tc.create_topic("fast", 1, 3, json!({"min.insync.replicas": 2}))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, producer) = spawn_producer(
        tc.http().clone(),
        tc.broker_urls(),
        "fast".into(),
        stop.clone(),
    );
    acked_at_least(&acked, 100, Duration::from_secs(30)).await;

    let before = partition_state(&tc, "fast").await;
    let old = name_of(&before["leader"]);
    tc.kill(&old);
    let killed = Instant::now();
    let after = wait_for(Duration::from_secs(30), || async {
        let p = partition_state(&tc, "fast").await;
        (!p["leader"].is_null() && p["leader"] != before["leader"]).then_some(p)
    })
    .await
    .expect("a new leader while the killed one's 60 s session still ran");
    assert!(
        killed.elapsed() < Duration::from_secs(60),
        "replaced before the session timeout could have fenced it"
    );
    assert_eq!(broker(&tc, &old).await["fenced"], true, "{old} is fenced");
    assert!(
        before["isr"].as_array().unwrap().contains(&after["leader"]),
        "the new leader came from the ISR"
    );
    let n = acked.lock().unwrap().len();
    acked_at_least(&acked, n + 100, Duration::from_secs(30)).await;
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let records = tc
        .fetch_all(&tc.url(&name_of(&after["leader"])), "fast", 0, 0)
        .await;
    assert_acked_present_once(&records, &acked.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_sigstopped_leader_a_report_does_not_fence_it_and_only_its_session_timeout_does() {
    const SESSION: Duration = Duration::from_secs(6);
    let session_ms = SESSION.as_millis().to_string();
    let tc = start(
        1,
        3,
        &[("broker_session_timeout_ms", session_ms.as_str())],
        BROKER,
    )
    .await;
    tc.create_topic("paused", 1, 3, json!({"min.insync.replicas": 2}))
        .await;
    let before = partition_state(&tc, "paused").await;
    let leader = name_of(&before["leader"]);
    let reporter = tc
        .broker_names()
        .into_iter()
        .find(|b| *b != leader)
        .expect("a follower");
    let reporter_info = broker(&tc, &reporter).await;

    tc.pause(&leader);
    let paused = Instant::now();
    // What a follower would send on a refused connection: the controller's
    // own probe completes a handshake with the paused process's kernel.
    let (status, verdict) = report(
        &tc,
        &format!(
            "{}/internal/v1/brokers/{}/unreachable",
            tc.url("controller-1"),
            before["leader"]
        ),
        json!({"reporter_id": reporter_info["id"], "reporter_epoch": reporter_info["epoch"]}),
    )
    .await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(
        verdict["fenced"], false,
        "a paused broker is not fenced: {verdict}"
    );

    let moved = wait_for(Duration::from_secs(40), || async {
        let p = partition_state(&tc, "paused").await;
        (p["leader"] != before["leader"]).then_some(p)
    })
    .await
    .expect("the session timeout fences the paused leader");
    // The session runs from the last heartbeat, up to one interval (250 ms)
    // before the pause; the fast path would have moved it within a second.
    let earliest = SESSION - Duration::from_secs(1);
    assert!(
        paused.elapsed() >= earliest,
        "leadership moved only by the {SESSION:?} session timeout (after {:?}): {moved}",
        paused.elapsed()
    );
    tc.resume(&leader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_from_an_unknown_or_stale_reporter_is_refused_with_an_error_code() {
    let tc = start(1, 1, &[], BROKER).await;
    let b = broker(&tc, "broker-1").await;
    let url = format!(
        "{}/internal/v1/brokers/{}/unreachable",
        tc.url("controller-1"),
        b["id"]
    );
    // A broker reports only as itself.
    let own = b["id"].as_u64().unwrap() as u32;
    let (s, v) = tc
        .send_signed(
            NodeIdentity::Broker(own + 1),
            reqwest::Method::POST,
            &url,
            Some(&json!({"reporter_id": own, "reporter_epoch": b["epoch"]})),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error_code"], "CLUSTER_AUTHORIZATION_FAILED", "{v}");
    let (s, v) = report(&tc, &url, json!({"reporter_id": 99, "reporter_epoch": 1})).await;
    assert_eq!(s / 100, 4, "{v}");
    assert_eq!(v["error_code"], "BROKER_ID_NOT_REGISTERED", "{v}");
    let stale = b["epoch"].as_u64().unwrap() + 1;
    let (s, v) = report(
        &tc,
        &url,
        json!({"reporter_id": b["id"], "reporter_epoch": stale}),
    )
    .await;
    assert_eq!(s / 100, 4, "{v}");
    assert_eq!(v["error_code"], "STALE_BROKER_EPOCH", "{v}");
    let (s, v) = report(
        &tc,
        &format!(
            "{}/internal/v1/brokers/x/unreachable",
            tc.url("controller-1")
        ),
        json!({"reporter_id": 1, "reporter_epoch": 1}),
    )
    .await;
    assert_eq!(s / 100, 4, "{v}");
    let (_, after) = tc
        .get(&format!("{}/v1/brokers", tc.url("controller-1")))
        .await;
    assert_eq!(after["brokers"][0]["fenced"], false, "nothing was fenced");
}

/// An unreachable report signed as the broker it names as the reporter, as a
/// real broker's would be.
async fn report(tc: &TestCluster, url: &str, body: Value) -> (u16, Value) {
    let reporter = body["reporter_id"].as_u64().unwrap_or_default() as u32;
    tc.send_signed(
        NodeIdentity::Broker(reporter),
        reqwest::Method::POST,
        url,
        Some(&body),
    )
    .await
}
