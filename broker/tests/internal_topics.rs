//! Internal topics on real processes: `__consumer_offsets` is created only
//! with the configured replication factor (groups wait for enough brokers
//! instead of getting an under-replicated topic), and clients cannot produce
//! to, create, delete or grow it.

mod common;

use common::{start, wait_for, TestCluster, FAST_BROKER, FAST_CONTROLLER};
use serde_json::{json, Value};
use std::time::Duration;

const OFFSETS: &str = "__consumer_offsets";

async fn fenced(tc: &TestCluster, id: u64) -> Option<bool> {
    let (_, v) = tc
        .get(&format!("{}/v1/brokers", tc.url("controller-1")))
        .await;
    v["brokers"].as_array()?.iter().find(|b| b["id"] == id)?["fenced"].as_bool()
}

async fn group_offsets(tc: &TestCluster) -> (u16, Value) {
    tc.get(&format!("{}/v1/groups/g1/offsets", tc.url("broker-1")))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_offsets_waits_for_its_replication_factor_and_refuses_client_writes() {
    let settings = [FAST_BROKER, &[("offsets_topic_replication_factor", "3")]].concat();
    let tc = start(1, 3, FAST_CONTROLLER, &settings).await;
    let controller = tc.url("controller-1");
    let topic_url = format!("{controller}/v1/topics/{OFFSETS}");

    // Two of three brokers up: groups wait rather than get an RF 2 topic.
    tc.kill("broker-3");
    let down = wait_for(Duration::from_secs(20), || async {
        (fenced(&tc, 3).await == Some(true)).then_some(())
    })
    .await;
    assert!(down.is_some(), "broker 3 fenced");
    let (s, v) = group_offsets(&tc).await;
    assert_eq!(
        (s, &v["error_code"]),
        (503, &json!("COORDINATOR_NOT_AVAILABLE")),
        "{v}"
    );
    assert_eq!(v["retriable"], true, "{v}");
    let (s, v) = tc.get(&topic_url).await;
    assert_eq!(s, 404, "not created under-replicated: {v}");
    // Nor may a client create it, with any RF.
    let create = json!({"name": OFFSETS, "partitions": 1, "replication_factor": 1});
    let (s, v) = tc.post(&format!("{controller}/v1/topics"), &create).await;
    assert_eq!(
        (s, &v["error_code"]),
        (400, &json!("INVALID_TOPIC_EXCEPTION")),
        "{v}"
    );

    // The third broker back: the topic appears with RF 3 and groups work.
    tc.start("broker-3");
    let served = wait_for(Duration::from_secs(60), || async {
        (group_offsets(&tc).await.0 == 200).then_some(())
    })
    .await;
    assert!(served.is_some(), "groups available once 3 brokers are up");
    let (s, t) = tc.get(&topic_url).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["replication_factor"], 3, "{t}");
    let parts = t["partitions"].as_array().expect("partitions").clone();
    assert!(
        parts
            .iter()
            .all(|p| p["replicas"].as_array().map(Vec::len) == Some(3)),
        "{t}"
    );

    // Clients cannot write to, delete or grow it.
    let records = json!({"records": [{"value": "forged offset"}]});
    for b in tc.broker_names() {
        for path in [
            format!("/v1/topics/{OFFSETS}/records"),
            format!("/v1/topics/{OFFSETS}/partitions/0/records"),
        ] {
            let (s, v) = tc.post(&format!("{}{path}", tc.url(&b)), &records).await;
            assert_eq!(
                (s, &v["error_code"]),
                (400, &json!("INVALID_TOPIC_EXCEPTION")),
                "{b} {path}: {v}"
            );
        }
    }
    let (s, v) = tc.send(reqwest::Method::DELETE, &topic_url, None).await;
    assert_eq!(
        (s, &v["error_code"]),
        (400, &json!("INVALID_TOPIC_EXCEPTION")),
        "{v}"
    );
    let (s, v) = tc
        .post(&format!("{topic_url}/partitions"), &json!({"count": 20}))
        .await;
    assert_eq!(
        (s, &v["error_code"]),
        (400, &json!("INVALID_TOPIC_EXCEPTION")),
        "{v}"
    );
    let (_, after) = tc.get(&topic_url).await;
    assert_eq!(after["partitions"], t["partitions"], "unchanged");
}
