//! The idempotent producer after a failed batch (issue 10, scenario 11),
//! against a real controller and broker: a batch the broker refused leaves
//! its sequence numbers to the next batch, and a batch whose outcome is
//! unknown moves the partition to a new producer epoch, so later batches are
//! written either way.

use ferry_client::{AdminClient, Consumer, FerryError, OffsetReset, Producer, ProducerConfig};
use ferry_common::ErrorCode;
use ferry_test_cluster::{wait_for, TestCluster};
use std::time::Duration;

/// Sends one record to the (one-partition) topic and waits for its delivery.
async fn deliver(producer: &Producer, topic: &str, value: Vec<u8>) -> Result<i64, FerryError> {
    let delivery = producer.send(topic, None, value).await.expect("queued");
    delivery.await.expect("delivery reported").map(|m| m.offset)
}

fn one_batch_at_a_time(cluster: &TestCluster) -> ProducerConfig {
    let mut cfg = ProducerConfig::new(cluster.broker_urls(), cluster.controller_urls());
    cfg.linger_ms = 0;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_11_a_refused_batch_does_not_wedge_the_idempotent_producer() {
    let cluster = TestCluster::builder(1, 1).start().await;
    AdminClient::new(cluster.controller_urls())
        .create_topic("refused", 1, 1, [("max.message.bytes", "1024")])
        .await
        .unwrap();
    let producer = Producer::connect(one_batch_at_a_time(&cluster))
        .await
        .unwrap();

    assert_eq!(
        deliver(&producer, "refused", b"first".to_vec())
            .await
            .unwrap(),
        0
    );
    let too_large = deliver(&producer, "refused", vec![b'x'; 4096]).await;
    assert_eq!(
        too_large.as_ref().err().and_then(FerryError::code),
        Some(ErrorCode::MessageTooLarge),
        "{too_large:?}"
    );
    for (i, offset) in (1..=3).enumerate() {
        let got = deliver(&producer, "refused", format!("after-{i}").into_bytes()).await;
        assert_eq!(
            got.as_ref().ok(),
            Some(&offset),
            "record {i} after the refused batch: {got:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_11_an_unknown_outcome_moves_the_partition_to_a_new_epoch() {
    // Every 2nd append is written but answered REQUEST_TIMED_OUT.
    let cluster = TestCluster::builder(1, 1)
        .broker_settings(&[("fault_lose_produce_ack_every", "2")])
        .start()
        .await;
    AdminClient::new(cluster.controller_urls())
        .create_topic("unknown", 1, 1, [("min.insync.replicas", "1")])
        .await
        .unwrap();
    let broker = cluster.broker_urls()[0].clone();
    let led = wait_for(Duration::from_secs(15), || async {
        let (_, v) = cluster
            .get(&format!("{broker}/v1/metadata?topics=unknown"))
            .await;
        v["topics"][0]["partitions"][0]["leader_url"]
            .is_string()
            .then_some(())
    })
    .await;
    assert!(led.is_some(), "the broker leads the partition");
    let mut cfg = one_batch_at_a_time(&cluster);
    // No retry: the lost acknowledgement is the batch's final outcome.
    cfg.retries = 1;
    let producer = Producer::connect(cfg).await.unwrap();

    assert_eq!(
        deliver(&producer, "unknown", b"r0".to_vec()).await.unwrap(),
        0
    );
    let lost = deliver(&producer, "unknown", b"r1".to_vec()).await;
    assert!(
        matches!(lost, Err(FerryError::OutcomeUnknown(_))),
        "a lost acknowledgement is an unknown outcome: {lost:?}"
    );
    // The next batch goes out under a new epoch from sequence 0 (append 3),
    // the one after it loses its acknowledgement again (append 4).
    assert_eq!(
        deliver(&producer, "unknown", b"r2".to_vec()).await.unwrap(),
        2
    );
    assert!(deliver(&producer, "unknown", b"r3".to_vec()).await.is_err());
    assert_eq!(
        deliver(&producer, "unknown", b"r4".to_vec()).await.unwrap(),
        4
    );

    let mut consumer = Consumer::new(cluster.broker_urls(), OffsetReset::Earliest);
    consumer.assign("unknown", 0);
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while values.len() < 5 && std::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(300)).await.unwrap() {
            values.push(String::from_utf8(r.value.unwrap_or_default()).unwrap_or_default());
        }
    }
    assert_eq!(
        values,
        ["r0", "r1", "r2", "r3", "r4"],
        "each record once, in order"
    );
}
