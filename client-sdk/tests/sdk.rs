//! The SDK against a real local cluster (controller and broker processes):
//! keyed acks=all production through lost acknowledgements (retriable
//! errors after the append) and a leader SIGKILL is delivered exactly once and
//! in per-key order, thanks to the idempotent producer.

use ferry_client::{AdminClient, Consumer, OffsetReset, Producer, ProducerConfig};
use ferry_test_cluster::TestCluster;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_keyed_acks_all_records_lost_acks_and_a_leader_sigkill_every_record_is_delivered_once_in_key_order(
) {
    let cluster = TestCluster::builder(1, 3)
        .controller_settings(&[("broker_session_timeout_ms", "2000")])
        .broker_settings(&[
            ("heartbeat_interval_ms", "250"),
            ("replica_lag_time_max_ms", "2000"),
            // Every 7th produce request loses its acknowledgement: retries must not duplicate.
            ("fault_lose_produce_ack_every", "7"),
        ])
        .start()
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
            cluster.kill(&victim);
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

    let dead = cluster.url(&victim);
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
