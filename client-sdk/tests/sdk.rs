//! The SDK against a real local cluster (controller and broker processes):
//! keyed acks=all production through lost acknowledgements (retriable
//! errors after the append) and a leader SIGKILL is delivered exactly once and
//! in per-key order, thanks to the idempotent producer.

mod common;

use ferry_client::{AdminClient, Consumer, OffsetReset, Producer, ProducerConfig};
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_keyed_acks_all_records_lost_acks_and_a_leader_sigkill_every_record_is_delivered_once_in_key_order(
) {
    let (_dir, cluster) = common::cluster(
        3,
        &[("broker_session_timeout_ms", "2000")],
        &[
            ("heartbeat_interval_ms", "250"),
            ("replica_lag_time_max_ms", "2000"),
            // Every 7th produce request loses its acknowledgement: retries must not duplicate.
            ("fault_lose_produce_ack_every", "7"),
        ],
    )
    .await;
    let admin = AdminClient::new(cluster.controller_urls());
    let topic = admin
        .create_topic("sdk", 6, 3, [("min.insync.replicas", "2")])
        .await
        .unwrap();
    assert_eq!(topic.partitions.len(), 6);
    assert!(admin
        .list_topics()
        .await
        .unwrap()
        .iter()
        .any(|t| t.topic == "sdk"));
    assert_eq!(admin.describe_brokers().await.unwrap().len(), 3);

    let mut cfg = ProducerConfig::new(cluster.broker_urls(), cluster.controller_urls());
    cfg.linger_ms = 2;
    cfg.batch_size = 500;
    let producer = Producer::connect(cfg).await.unwrap();
    let keys = 50;
    let total = 100_000;
    let mut deliveries = Vec::with_capacity(total);
    let victim = topic.partitions[0]
        .leader
        .map(|b| format!("broker-{}", b.0))
        .unwrap();
    for i in 0..total {
        if i == total / 3 {
            cluster.kill(&victim).unwrap();
        }
        let key = format!("key-{}", i % keys);
        let value = format!("{}:{}", i % keys, i / keys);
        deliveries.push(
            producer
                .send("sdk", Some(key.into_bytes()), value.into_bytes())
                .await
                .unwrap(),
        );
    }
    for d in deliveries {
        d.await
            .expect("delivery reported")
            .expect("every record acknowledged");
    }

    let dead = cluster.node(&victim).unwrap().url();
    let live: Vec<String> = cluster
        .broker_urls()
        .into_iter()
        .filter(|u| *u != dead)
        .collect();
    let mut consumer = Consumer::new(live, OffsetReset::Earliest);
    for p in 0..6 {
        consumer.assign("sdk", p);
    }
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let mut count = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count < total && std::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(300)).await.unwrap() {
            let v = String::from_utf8(r.value.unwrap()).unwrap();
            let (k, n) = v.split_once(':').unwrap();
            seen.entry(k.to_string())
                .or_default()
                .push(n.parse().unwrap());
            count += 1;
        }
    }
    assert_eq!(count, total, "every record exactly once");
    for (k, ns) in &seen {
        let expected: Vec<u64> = (0..(total / keys) as u64).collect();
        assert_eq!(ns, &expected, "key {k}: all records, in send order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_creates_describes_produces_and_consumes() {
    let (_dir, cluster) = common::cluster(1, &[], &[]).await;
    let bootstrap = cluster.controller_urls().join(",");
    let ferry = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["--bootstrap", &bootstrap])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = ferry(
        &[
            "topics",
            "create",
            "cli",
            "--partitions",
            "2",
            "--config",
            "retention.ms=60000",
        ],
        "",
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("Created topic cli with 2 partitions"), "{out}");
    let (ok, out, _) = ferry(&["topics", "describe", "cli"], "");
    assert!(ok && out.contains("Partition: 1"), "{out}");
    let (ok, _, err) = ferry(
        &["produce", "cli", "--key-separator", ":"],
        "k1:hello\nk2:world\n",
    );
    assert!(ok && err.contains("2 records produced"), "{err}");
    let (ok, out, err) = ferry(
        &[
            "--json",
            "consume",
            "cli",
            "--from-beginning",
            "--max-messages",
            "2",
        ],
        "",
    );
    assert!(ok, "{err}");
    let mut values: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    values.sort();
    assert_eq!(values, vec!["hello", "world"]);
    let (ok, _, err) = ferry(&["topics", "create", "cli"], "");
    assert!(!ok && err.contains("TOPIC_ALREADY_EXISTS"), "{err}");
}
