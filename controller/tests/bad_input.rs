//! Hostile and malformed requests against a real single-node controller
//! (in-process `run()` on a real socket, real sled in a temp dir): each gets
//! its Kafka-style code and a 4xx, and the node keeps serving.

use ferry_controller::config::ControllerConfig;
use ferry_http::auth::{random_secret, ClusterKey, NodeIdentity, Signer};
use serde_json::{json, Value};
use std::time::Duration;

struct Node {
    url: String,
    http: reqwest::Client,
    key: ClusterKey,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn single_node() -> Node {
    single_node_with(|_| {}).await
}

async fn single_node_with(tweak: impl FnOnce(&mut ControllerConfig)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let secret = dir.path().join("cluster.secret");
    std::fs::write(&secret, random_secret()).unwrap();
    let key = ClusterKey::from_file(&secret).unwrap();
    let mut cfg = ControllerConfig {
        node_id: 1,
        listen_addr: listener.local_addr().unwrap().to_string(),
        voters: format!("1@{url}"),
        data_dir: dir.path().join("data"),
        cluster_secret_file: Some(secret),
        ..Default::default()
    };
    tweak(&mut cfg);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = ferry_controller::run(cfg, listener, async {
            let _ = rx.await;
        })
        .await;
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(
        ferry_test_cluster::wait_ready(&http, &format!("{url}/readyz"), Duration::from_secs(20))
            .await
    );
    Node {
        url,
        http,
        key,
        _dir: dir,
        _stop: tx,
    }
}

impl Node {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut req = self.http.request(method.clone(), &url);
        if path.starts_with("/internal/") {
            // As the broker the path names, or a new one.
            let who = path
                .strip_prefix("/internal/v1/brokers/")
                .and_then(|rest| rest.split('/').next())
                .and_then(|id| id.parse().ok())
                .map_or(NodeIdentity::NewBroker, NodeIdentity::Broker);
            let bytes = body.as_deref().unwrap_or_default();
            req = req.headers(Signer::fixed(self.key.clone(), who).headers(&method, &url, bytes));
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post_json(&self, path: &str, v: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some(serde_json::to_vec(&v).unwrap()),
        )
        .await
    }

    /// Registers a broker and heartbeats it until unfenced.
    async fn unfenced_broker(&self) {
        let (s, v) = self
            .post_json(
                "/internal/v1/brokers/register",
                json!({"url": "http://127.0.0.1:1", "incarnation_id": "x"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = self
            .post_json(
                "/internal/v1/brokers/1/heartbeat",
                json!({"broker_epoch": v["broker_epoch"], "metadata_offset": v["broker_epoch"]}),
            )
            .await;
        assert_eq!((s, &v["fenced"]), (200, &json!(false)), "{v}");
    }
}

fn expect(code: &str, got: (u16, Value)) {
    let (status, v) = got;
    assert_eq!(v["error_code"], code, "{status} {v}");
    assert!(
        (400..500).contains(&status),
        "{code} must be a 4xx, got {status}"
    );
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test]
async fn given_bad_requests_should_answer_kafka_codes_and_keep_serving() {
    let n = single_node().await;
    n.unfenced_broker().await;
    let post = |b: &'static [u8]| n.send(reqwest::Method::POST, "/v1/topics", Some(b.to_vec()));

    expect("INVALID_REQUEST", post(b"{\"name\": \"t\", ").await);
    expect("INVALID_REQUEST", post(b"").await);
    expect("INVALID_REQUEST", post(b"[1,2,3]").await);
    expect(
        "INVALID_REQUEST",
        post(br#"{"name":"t","partitions":"three","replication_factor":1}"#).await,
    );
    expect(
        "INVALID_REQUEST",
        post(br#"{"name":"t","partitions":1}"#).await,
    );
    expect(
        "INVALID_REQUEST",
        post(br#"{"name":"t","partitions":1,"replication_factor":1,"extra":1}"#).await,
    );
    expect(
        "INVALID_REQUEST",
        post(br#"{"name":"t","partitions":1e400,"replication_factor":1}"#).await,
    );
    expect(
        "INVALID_TOPIC_EXCEPTION",
        post(br#"{"name":"bad/name","partitions":1,"replication_factor":1}"#).await,
    );
    expect(
        "INVALID_TOPIC_EXCEPTION",
        post(br#"{"name":"..","partitions":1,"replication_factor":1}"#).await,
    );
    let long = json!({"name": "x".repeat(250), "partitions": 1, "replication_factor": 1});
    expect(
        "INVALID_TOPIC_EXCEPTION",
        n.post_json("/v1/topics", long).await,
    );
    expect(
        "INVALID_PARTITIONS",
        post(br#"{"name":"t","partitions":0,"replication_factor":1}"#).await,
    );
    expect(
        "INVALID_PARTITIONS",
        post(br#"{"name":"t","partitions":-5,"replication_factor":1}"#).await,
    );
    expect(
        "INVALID_PARTITIONS",
        post(br#"{"name":"t","partitions":9999999999,"replication_factor":1}"#).await,
    );
    expect(
        "INVALID_REPLICATION_FACTOR",
        post(br#"{"name":"t","partitions":1,"replication_factor":2}"#).await,
    );
    expect(
        "INVALID_REPLICATION_FACTOR",
        post(br#"{"name":"t","partitions":1,"replication_factor":0}"#).await,
    );
    expect("INVALID_CONFIG", post(br#"{"name":"t","partitions":1,"replication_factor":1,"configs":{"retention.mss":"1"}}"#).await);
    expect("INVALID_CONFIG", post(br#"{"name":"t","partitions":1,"replication_factor":1,"configs":{"retention.ms":"soon"}}"#).await);
    expect("INVALID_CONFIG", post(br#"{"name":"t","partitions":1,"replication_factor":1,"configs":{"min.insync.replicas":"2"}}"#).await);
    expect("INVALID_CONFIG", post(br#"{"name":"t","partitions":1,"replication_factor":1,"configs":{"cleanup.policy":"compact"}}"#).await);
    // Limits a topic could never write under: no batch fits in them.
    expect("INVALID_CONFIG", post(br#"{"name":"t","partitions":1,"replication_factor":1,"configs":{"segment.bytes":"14"}}"#).await);
    expect("INVALID_CONFIG", post(br#"{"name":"t","partitions":1,"replication_factor":1,"configs":{"max.message.bytes":"0"}}"#).await);

    let huge = vec![b' '; 4 * 1024 * 1024];
    expect(
        "REQUEST_TOO_LARGE",
        n.send(reqwest::Method::POST, "/v1/topics", Some(huge))
            .await,
    );
    expect(
        "UNKNOWN_TOPIC_OR_PARTITION",
        n.send(reqwest::Method::GET, "/v1/topics/nope", None).await,
    );
    expect(
        "UNKNOWN_TOPIC_OR_PARTITION",
        n.send(reqwest::Method::DELETE, "/v1/topics/nope", None)
            .await,
    );
    expect(
        "INVALID_TOPIC_EXCEPTION",
        n.send(reqwest::Method::GET, "/v1/topics/b%20d", None).await,
    );
    expect(
        "NOT_FOUND",
        n.send(reqwest::Method::GET, "/v2/anything", None).await,
    );
    expect(
        "METHOD_NOT_ALLOWED",
        n.send(reqwest::Method::PUT, "/v1/topics", None).await,
    );
    expect(
        "INVALID_REQUEST",
        n.send(reqwest::Method::GET, "/v1/topics?consistent=maybe", None)
            .await,
    );
    expect(
        "INVALID_REQUEST",
        n.post_json(
            "/internal/v1/brokers/abc/heartbeat",
            json!({"broker_epoch": 1, "metadata_offset": 0}),
        )
        .await,
    );
    expect(
        "BROKER_ID_NOT_REGISTERED",
        n.post_json(
            "/internal/v1/brokers/77/heartbeat",
            json!({"broker_epoch": 1, "metadata_offset": 0}),
        )
        .await,
    );
    expect(
        "INVALID_REQUEST",
        n.post_json(
            "/internal/v1/brokers/register",
            json!({"url": "ftp://x", "incarnation_id": "y"}),
        )
        .await,
    );

    // Idempotency headers must be well-formed.
    let bad_seq = n
        .http
        .post(format!("{}/v1/topics", n.url))
        .header("Ferry-Client-Id", "c")
        .header("Ferry-Request-Seq", "-1")
        .json(&json!({"name": "t", "partitions": 1, "replication_factor": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_seq.status().as_u16(), 400);

    // After all that the node still works and stored nothing bad.
    let (s, v) = n.post_json("/v1/topics", json!({"name": "t", "partitions": 2, "replication_factor": 1, "configs": {"retention.ms": 1000}})).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["configs"]["retention.ms"], "1000");
    expect(
        "TOPIC_ALREADY_EXISTS",
        n.post_json(
            "/v1/topics",
            json!({"name": "t", "partitions": 2, "replication_factor": 1}),
        )
        .await,
    );
    expect(
        "INVALID_PARTITIONS",
        n.post_json("/v1/topics/t/partitions", json!({"count": 1}))
            .await,
    );
    let (_, v) = n.send(reqwest::Method::GET, "/v1/topics", None).await;
    assert_eq!(v["topics"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn given_a_retried_write_with_the_same_client_sequence_should_apply_it_once() {
    let n = single_node().await;
    n.unfenced_broker().await;
    let send = |name: &'static str, seq: &'static str| {
        n.http
            .post(format!("{}/v1/topics", n.url))
            .header("Ferry-Client-Id", "sdk-42")
            .header("Ferry-Request-Seq", seq)
            .json(&json!({"name": name, "partitions": 1, "replication_factor": 1}))
            .send()
    };
    let first = send("once", "1").await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    // The retry is answered from the session table, not TOPIC_ALREADY_EXISTS.
    let again = send("once", "1").await.unwrap();
    assert_eq!(again.status().as_u16(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["topic_id"], again["topic_id"]);
    // A new sequence is a new write.
    let (_, v) = {
        let r = send("once", "2").await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(v["error_code"], "TOPIC_ALREADY_EXISTS");
}

#[tokio::test]
async fn metrics_and_health_endpoints_speak_their_formats() {
    let n = single_node().await;
    let body = n
        .http
        .get(format!("{}/metrics", n.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for m in [
        "ferry_controller_raft_term",
        "ferry_controller_raft_is_leader 1",
        "ferry_controller_metadata_offset",
        "ferry_controller_brokers_fenced",
    ] {
        assert!(body.contains(m), "{m} missing from:\n{body}");
    }
    let (s, v) = n.send(reqwest::Method::GET, "/healthz", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (s, v) = n.send(reqwest::Method::GET, "/v1/cluster", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["leader_id"], 1);
    assert!(v["cluster_id"].is_string());
}

#[tokio::test]
async fn given_a_replica_bound_should_refuse_creates_and_growth_past_it_with_policy_violation() {
    let n = single_node_with(|c| c.max_replicas_per_broker = 4).await;
    n.unfenced_broker().await;
    let (s, v) = n
        .post_json(
            "/v1/topics",
            json!({"name": "t", "partitions": 3, "replication_factor": 1}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    expect(
        "POLICY_VIOLATION",
        n.post_json(
            "/v1/topics",
            json!({"name": "u", "partitions": 2, "replication_factor": 1}),
        )
        .await,
    );
    expect(
        "POLICY_VIOLATION",
        n.post_json("/v1/topics/t/partitions", json!({"count": 5}))
            .await,
    );
    // Up to the bound still works, and the refusals stored nothing.
    let (s, v) = n
        .post_json("/v1/topics/t/partitions", json!({"count": 4}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = n.send(reqwest::Method::GET, "/v1/topics", None).await;
    assert_eq!(v["topics"].as_array().unwrap().len(), 1, "{v}");
}

#[tokio::test]
async fn given_a_running_controller_should_serve_the_generated_openapi_document() {
    let n = single_node().await;
    let (status, served) = n.send(reqwest::Method::GET, "/openapi.json", None).await;
    assert_eq!(status, 200, "{served}");
    let generated = serde_json::to_value(ferry_controller::api::openapi::document()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
}
