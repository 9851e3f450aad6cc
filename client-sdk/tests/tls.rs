//! TLS on every listener, against real processes: a cluster started with TLS
//! (3 controllers, 2 brokers) elects its Raft leader, registers brokers and
//! replicates over https; the SDK with the cluster's CA creates a topic,
//! produces with acks=all at RF 2 and fetches; clients without the CA are
//! refused at once, and plain HTTP to a TLS port gets no HTTP answer. A node
//! whose PEM files are garbage refuses to start.

use ferry_client::{
    Acks, AdminClient, Consumer, FerryError, OffsetReset, Producer, ProducerConfig,
};
use ferry_test_cluster::TestCluster;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATIENCE: Duration = Duration::from_secs(20);

/// `e` and its causes, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tls_cluster_replicates_and_serves_only_clients_that_trust_its_ca() {
    let cluster = TestCluster::builder(3, 2).tls().start().await;
    let ca = cluster.ca_file().expect("a TLS cluster has a CA file");
    let controllers = cluster.controller_urls();
    let brokers = cluster.broker_urls();
    assert!(
        controllers
            .iter()
            .chain(&brokers)
            .all(|u| u.starts_with("https://")),
        "{controllers:?} {brokers:?}"
    );

    // The SDK without the CA: a clear error at once, not retries.
    let started = Instant::now();
    let e = AdminClient::new(controllers.clone())
        .describe_brokers()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FerryError::Config(m) if m.contains("certificate is not trusted") && m.contains("--ca-file")),
        "{e}"
    );
    assert!(!e.is_retriable());
    assert!(started.elapsed() < PATIENCE, "refused, not retried");

    // A plain reqwest client (public roots only) is refused by the TLS layer.
    let untrusting = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let e = untrusting
        .get(format!("{}/v1/metadata", brokers[0]))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert!(
        chain(&e).contains("invalid peer certificate"),
        "{}",
        chain(&e)
    );

    // Plain HTTP to a TLS port: the connection closes without an HTTP answer.
    let port = brokers[0].rsplit(':').next().unwrap();
    let mut raw = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    raw.write_all(b"GET /v1/metadata HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, raw.read_to_end(&mut answer))
        .await
        .expect("the TLS port closes a plain-HTTP connection");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // With the CA: the controller quorum answers (Raft over TLS) and both
    // brokers registered (broker -> controller over TLS).
    ferry_client::trust_ca_file(&ca).unwrap();
    let admin = AdminClient::new(controllers.clone());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = admin.describe_brokers().await.unwrap();
        if listed.len() == 2 {
            assert!(
                listed.iter().all(|b| b.url.starts_with("https://")),
                "{listed:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "brokers did not register: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin
        .create_topic("secure", 1, 2, [("min.insync.replicas", "2")])
        .await
        .unwrap();

    // acks=all at RF 2: acknowledged only once the follower fetched it over
    // TLS (replica fetches are internal calls between the brokers).
    let mut config = ProducerConfig::new(brokers.clone(), controllers.clone());
    config.acks = Acks::All;
    let producer = Producer::connect(config).await.unwrap();
    for i in 0..20 {
        producer
            .send("secure", None, format!("v{i}").into_bytes())
            .await
            .unwrap()
            .await
            .unwrap()
            .unwrap();
    }
    producer.flush().await;

    let mut consumer = Consumer::new(brokers.clone(), OffsetReset::Earliest);
    consumer.assign("secure", 0);
    let mut got = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while got.len() < 20 {
        for r in consumer.poll(Duration::from_millis(300)).await.unwrap() {
            got.push(String::from_utf8(r.value.unwrap_or_default()).unwrap());
        }
        assert!(Instant::now() < deadline, "fetched only {got:?}");
    }
    let want: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    assert_eq!(got, want);

    // Both replicas are in sync, so replication itself ran over TLS.
    let (status, topic) = cluster
        .get(&format!("{}/v1/topics/secure", controllers[0]))
        .await;
    assert_eq!(status, 200, "{topic}");
    let isr = &topic["partitions"][0]["isr"];
    assert_eq!(isr.as_array().map(Vec::len), Some(2), "{topic}");
}

#[test]
fn a_broker_with_garbage_pem_refuses_to_start_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bin = ferry_test_cluster::bins::bin_dir(&[]).join("ferry-broker");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef0123456789").unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let out = std::process::Command::new(bin)
        .env("FERRY_BROKER__LISTEN_ADDR", "127.0.0.1:0")
        .env("FERRY_BROKER__CONTROLLERS", "https://127.0.0.1:9")
        .env("FERRY_BROKER__DATA_DIR", dir.path().join("data"))
        .env("FERRY_BROKER__CLUSTER_SECRET_FILE", &secret)
        .env("FERRY_BROKER__TLS__CERT_FILE", &junk)
        .env("FERRY_BROKER__TLS__KEY_FILE", &junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("holds no PEM certificate") && stderr.contains("junk.pem"),
        "{stderr}"
    );
}
