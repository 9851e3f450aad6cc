//! Per-server resource bounds on a real broker process: a storm of large
//! fetches and a thousand idle connections neither blow up its memory nor stop
//! it serving produce.

mod common;

use base64::Engine;
use common::{start, Topics, FAST_BROKER};
use ferry_test_cluster::NodeState;
use serde_json::{json, Value};
use std::time::Duration;

/// The broker's fetch memory budget in this test, and the peak resident size
/// the README documents for a broker under such a storm: the budget plus the
/// process's own baseline and allocator slack.
const FETCH_MEMORY: u64 = 64 * 1024 * 1024;
const RSS_BOUND: u64 = 768 * 1024 * 1024;

/// Peak resident set (VmHWM) of `pid`, in bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_200_concurrent_64_mib_fetches_and_1000_idle_connections_should_bound_memory_and_keep_producing(
) {
    let memory = FETCH_MEMORY.to_string();
    let mut broker = FAST_BROKER.to_vec();
    broker.push(("fetch_memory_bytes", memory.as_str()));
    // The default session timeout: a storm on a loaded 2-core machine may
    // delay a heartbeat past the tests' usual 2 s.
    let tc = start(1, 1, &[], &broker).await;
    tc.create_topic("big", 1, 1, json!({})).await;
    let url = format!("{}/v1/topics/big/partitions/0/records", tc.url("broker-1"));
    // 16 MiB of binary values: base64 in JSON, the worst expansion.
    let b64 = base64::engine::general_purpose::STANDARD;
    let value = b64.encode(vec![0xffu8; 64 * 1024]);
    for _ in 0..32 {
        let records: Vec<Value> = (0..8).map(|_| json!({"value_b64": value})).collect();
        let (s, v) = tc.post(&url, &json!({ "records": records })).await;
        assert_eq!(s, 200, "{v}");
    }
    let NodeState::Running(pid) = tc.local_cluster().state("broker-1").unwrap() else {
        panic!("broker-1 is not running");
    };
    let before = peak_rss(pid);

    let addr = tc.url("broker-1").trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let storm: Vec<_> = (0..200)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let res = http
                    .get(format!(
                        "{url}?offset=0&max_bytes=67108864&max_records=100000"
                    ))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    // Produce keeps working while the storm runs.
    for n in 0..10 {
        let (s, v) = tc
            .post(
                &url,
                &json!({"records": [{"value": format!("during-{n}")}]}),
            )
            .await;
        assert_eq!(s, 200, "produce during the fetch storm: {v}");
    }
    let (mut served, mut refused) = (0, 0);
    for f in storm {
        let (status, body) = f.await.unwrap();
        match status {
            200 => {
                // max_bytes is cut to the fetch's share of the budget, but
                // the answer is never empty while records are there.
                assert!(!body["records"].as_array().unwrap().is_empty());
                served += 1;
            }
            503 => {
                assert_eq!(body["error_code"], "THROTTLING_QUOTA_EXCEEDED", "{body}");
                assert_eq!(body["retriable"], true);
                refused += 1;
            }
            other => panic!("fetch answered {other}: {body}"),
        }
    }
    let peak = peak_rss(pid);
    eprintln!(
        "fetch storm: {served} served, {refused} refused; broker peak RSS {} MiB (before the storm {} MiB)",
        peak >> 20,
        before >> 20
    );
    assert!(served > 0, "some fetches are served");
    assert!(
        peak < RSS_BOUND,
        "peak RSS {} MiB is over the documented {} MiB",
        peak >> 20,
        RSS_BOUND >> 20
    );
    // Still answering, idle connections and all.
    let (s, _) = tc.get(&format!("{}/healthz", tc.url("broker-1"))).await;
    assert_eq!(s, 200);
    drop(idle);
}
