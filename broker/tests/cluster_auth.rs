//! Cluster-internal authentication on real processes: every internal endpoint
//! of both services refuses a caller without the cluster secret, with a wrong
//! one, or replaying a captured request, and answers before reading the body;
//! members act only as themselves.

mod common;

use common::{start, wait_for, TestCluster, FAST_BROKER, FAST_CONTROLLER};
use ferry_http::auth::{ClusterKey, NodeIdentity, Signer};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longer than any answer that does not wait for the body may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// Sends a request head declaring `declared` body bytes, then `body`, and
/// reads the answer without sending more: a server that reads the body waits
/// forever (until [`PATIENCE`] fails the test).
async fn raw(
    url: &str,
    method: &str,
    headers: &HeaderMap,
    declared: usize,
    body: &[u8],
) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .expect("a path");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let mut s = TcpStream::connect(host).await.unwrap();
    // One write, so the server's first read takes it all and nothing is left
    // unread in the socket when it answers.
    s.write_all(&[head.as_bytes(), body].concat())
        .await
        .unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "{method} {url}: no answer in {PATIENCE:?}: the body was waited for"
    );
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A gigabyte announced, a few bytes sent.
const HUGE: usize = 1 << 30;

fn assert_refused(what: &str, (status, text): (u16, String)) {
    assert_eq!(status, 401, "{what}: {text}");
    assert!(
        text.contains("SASL_AUTHENTICATION_FAILED"),
        "{what}: {text}"
    );
}

async fn internal_endpoints(tc: &TestCluster) -> Vec<(String, &'static str)> {
    let c = tc.url("controller-1");
    let b = tc.url("broker-1");
    let mut out: Vec<(String, &'static str)> = [
        "/raft/v1/append",
        "/raft/v1/vote",
        "/raft/v1/snapshot",
        "/internal/v1/brokers/register",
        "/internal/v1/brokers/1/heartbeat",
        "/internal/v1/brokers/1/shutdown",
        "/internal/v1/alter-partition",
    ]
    .into_iter()
    .map(|p| (format!("{c}{p}"), "POST"))
    .collect();
    out.push((format!("{c}/internal/v1/metadata/snapshot"), "GET"));
    out.push((format!("{b}/internal/v1/metadata/deltas"), "POST"));
    out.push((format!("{b}/internal/v1/replica/fetch"), "POST"));
    out.push((format!("{b}/internal/v1/groups"), "GET"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_internal_endpoint_refuses_no_wrong_or_replayed_credentials_before_reading_the_body()
{
    let tc = start(3, 2, FAST_CONTROLLER, FAST_BROKER).await;
    let wrong = Signer::fixed(ClusterKey::random(), NodeIdentity::Controller(1));
    let right = tc.signer(NodeIdentity::Controller(1));
    for (url, method) in internal_endpoints(&tc).await {
        let m: reqwest::Method = method.parse().unwrap();
        let what = format!("{method} {url}");
        assert_refused(
            &format!("{what} unsigned"),
            raw(&url, method, &HeaderMap::new(), HUGE, b"{\"x\":").await,
        );
        let h = wrong.headers(&m, &url, b"{}");
        assert_refused(
            &format!("{what} wrong secret"),
            raw(&url, method, &h, HUGE, b"{\"x\":").await,
        );
        // A genuine request goes through once (its unparsable body then
        // gets a 4xx, or a GET its answer) ...
        let body: &[u8] = if method == "GET" { b"" } else { b"{" };
        let h = right.headers(&m, &url, body);
        let (status, text) = raw(&url, method, &h, body.len(), body).await;
        assert!(status != 401 && status != 0, "{what} genuine: {text}");
        // ... and never again.
        assert_refused(
            &format!("{what} replayed"),
            raw(&url, method, &h, HUGE, body).await,
        );
    }
}

/// `(leader_id, term)` as controller `name` reports it.
async fn leadership(tc: &TestCluster, name: &str) -> (Value, u64) {
    let (_, v) = tc.get(&format!("{}/v1/cluster", tc.url(name))).await;
    (v["leader_id"].clone(), v["term"].as_u64().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_votes_change_no_term_and_members_act_only_as_themselves() {
    let tc = start(3, 2, FAST_CONTROLLER, FAST_BROKER).await;
    let names = tc.controller_names();
    let settled = wait_for(Duration::from_secs(20), || async {
        let (l, t) = leadership(&tc, "controller-1").await;
        (!l.is_null()).then_some((l, t))
    })
    .await;
    let (leader, term) = settled.expect("a leader");
    let huge = 1u64 << 40;
    let vote = json!({
        "vote": {"leader_id": {"term": huge, "node_id": 2}, "committed": false},
        "last_log_id": {"leader_id": {"term": huge, "node_id": 2}, "index": huge}
    });
    let bytes = vote.to_string().into_bytes();
    for n in &names {
        let url = format!("{}/raft/v1/vote", tc.url(n));
        assert_refused(
            &format!("{n} unsigned vote"),
            raw(&url, "POST", &HeaderMap::new(), bytes.len(), &bytes).await,
        );
        // Holding the secret is not enough: a broker, or a controller
        // speaking for another node, is refused too.
        for who in [NodeIdentity::Broker(1), NodeIdentity::Controller(3)] {
            let (s, v) = tc
                .send_signed(who, reqwest::Method::POST, &url, Some(&vote))
                .await;
            assert_eq!(
                (s, &v["error_code"]),
                (403, &json!("CLUSTER_AUTHORIZATION_FAILED")),
                "{n} vote as {who}: {v}"
            );
        }
    }
    for n in &names {
        assert_eq!(
            leadership(&tc, n).await,
            (leader.clone(), term),
            "{n} kept term and leader"
        );
    }

    // Broker 1 cannot fetch as replica 2, heartbeat or shut down for broker 2,
    // alter broker 2's partitions, or push metadata.
    let fetch = json!({"replica_id": 2, "max_wait_ms": 0, "max_bytes": 1024, "partitions": []});
    let leader_url = tc.url(&format!("controller-{}", leader.as_u64().unwrap()));
    let refused = [
        (
            format!("{}/internal/v1/replica/fetch", tc.url("broker-2")),
            fetch,
        ),
        (
            format!("{leader_url}/internal/v1/brokers/2/heartbeat"),
            json!({"broker_epoch": 1, "metadata_offset": 0}),
        ),
        (
            format!("{leader_url}/internal/v1/brokers/2/shutdown"),
            json!({"broker_epoch": 1}),
        ),
        (
            format!("{leader_url}/internal/v1/alter-partition"),
            json!({"broker_id": 2, "broker_epoch": 1, "topic": "t", "partition": 0,
                   "leader_epoch": 0, "partition_epoch": 0, "new_isr": [2]}),
        ),
        (
            format!("{}/internal/v1/metadata/deltas", tc.url("broker-2")),
            json!({"controller_id": 1, "term": huge, "head_offset": 0, "head_last_record_offset": 0, "deltas": []}),
        ),
    ];
    for (url, body) in refused {
        let (s, v) = tc
            .send_signed(
                NodeIdentity::Broker(1),
                reqwest::Method::POST,
                &url,
                Some(&body),
            )
            .await;
        assert_eq!(
            (s, &v["error_code"]),
            (403, &json!("CLUSTER_AUTHORIZATION_FAILED")),
            "{url}: {v}"
        );
    }
}
