//! Issue 11, power-cut test (c): cuts while segments roll, retention deletes
//! segments and checkpoints are rewritten (HW, log start, partition.json,
//! producer state) leave every replica openable: after each cut every broker
//! starts, every replica is online on every broker, none is offline, and no
//! log was wiped. Needs /dev/fuse and root; fails loudly without.

mod common;

use common::durability::{DURABLE_BROKER, DURABLE_TOPIC};
use common::load::Load;
use common::PowerCutCluster;
use std::time::Duration;

const TOPIC: &str = "churn";
/// Tiny segments and byte retention: rolls and deletions every few requests.
const CHURN_TOPIC: &[(&str, &str)] = &[("segment.bytes", "4096"), ("retention.bytes", "16384")];
const CUTS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_segment_rolls_retention_and_checkpoints_when_power_is_cut_should_reopen_every_replica(
) {
    let mut broker = DURABLE_BROKER.to_vec();
    broker.push(("retention_check_interval_ms", "100"));
    let c = PowerCutCluster::start(&broker).await;
    let configs: Vec<(&str, &str)> = CHURN_TOPIC.iter().chain(DURABLE_TOPIC).copied().collect();
    c.create_topic(TOPIC, 1, &configs).await;
    let mut total_acked = 0usize;
    for cut in 0..CUTS {
        let load = Load::start(c.tc.http().clone(), c.tc.broker_urls(), TOPIC, 0, 4, 5);
        // A different point in the churn each round.
        load.wait_acked(400 + 350 * cut, Duration::from_secs(90))
            .await;
        c.cut_power();
        let acked = load.stop().await;
        total_acked += acked.len();
        c.restart().await;
        let leader = c.leader(TOPIC, 0, Duration::from_secs(60)).await;
        for (b, v) in c.replicas().await {
            let offline = v["offline"].as_array().cloned().unwrap_or_default();
            assert!(
                offline.is_empty(),
                "cut {cut}: {b} has offline replicas: {offline:?}"
            );
            let online = v["replicas"].as_array().cloned().unwrap_or_default();
            assert!(
                online.iter().any(|r| r["topic"] == TOPIC),
                "cut {cut}: {b} serves its replica of {TOPIC}: {v}"
            );
        }
        let records = c.read_all(TOPIC, 0).await;
        let (_, off) =
            c.tc.get(&format!("{leader}/v1/topics/{TOPIC}/partitions/0/offsets"))
                .await;
        let leo = off["log_end_offset"].as_u64().unwrap_or(0) as usize;
        let newest: Vec<&String> = acked.iter().rev().take(20).collect();
        let kept = newest
            .iter()
            .filter(|v| {
                records
                    .iter()
                    .any(|r| r["value"].as_str() == Some(v.as_str()))
            })
            .count();
        eprintln!(
            "cut {cut}: {} acknowledged this round ({total_acked} in all), log end {leo}, \
             log start {}, {} records readable, newest {kept}/{} acknowledged present",
            acked.len(),
            off["log_start_offset"],
            records.len(),
            newest.len()
        );
        assert!(
            leo >= total_acked,
            "cut {cut}: log end {leo} below the {total_acked} acknowledged: a log was wiped"
        );
        assert_eq!(
            kept,
            newest.len(),
            "cut {cut}: the newest acknowledged records survived"
        );
    }
}
