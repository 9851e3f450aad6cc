//! Issue 11, power-cut tests (a) and (b): acks=all load on an RF 3 topic,
//! the power of every node (brokers and controller, one host) cut at once,
//! then a restart. With durable acknowledgements every acknowledged record
//! is there exactly once; with page-cache acknowledgements acknowledged
//! records are lost, which the test asserts, proving the cut is real.
//!
//! Needs /dev/fuse and root (see `.ci/run`); fails loudly without.

mod common;

use common::durability::{DURABLE_BROKER, DURABLE_TOPIC, PAGE_CACHE_BROKER, PAGE_CACHE_TOPIC};
use common::load::{survivors, Load};
use common::PowerCutCluster;
use std::time::Duration;

/// One cluster at a time: each is 4 processes on a small machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TOPIC: &str = "cut";
/// Acknowledged records before the cut.
const ACKED_BEFORE_CUT: usize = 3_000;

/// Load, cut, restart; the acknowledged values and the records read back.
async fn load_cut_restart(
    broker: &[(&str, &str)],
    topic: &[(&str, &str)],
) -> (PowerCutCluster, Vec<String>, Vec<serde_json::Value>) {
    let c = PowerCutCluster::start(broker).await;
    c.create_topic(TOPIC, 1, topic).await;
    let load = Load::start(c.tc.http().clone(), c.tc.broker_urls(), TOPIC, 0, 8, 10);
    load.wait_acked(ACKED_BEFORE_CUT, Duration::from_secs(90))
        .await;
    c.cut_power();
    let acked = load.stop().await;
    let stats = c.mount.stats();
    eprintln!(
        "power cut after {} acknowledged records: {} bytes of unsynced writes dropped \
         ({} writes, {} fsyncs, {} directory fsyncs before the cut)",
        acked.len(),
        stats.bytes_lost,
        stats.writes,
        stats.fsyncs,
        stats.dir_fsyncs
    );
    eprintln!(
        "broker-1's data dir after the cut:\n{}",
        common::tree(&c.mount.path().join("broker-1"))
    );
    c.restart().await;
    let records = c.read_all(TOPIC, 0).await;
    (c, acked, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_durable_acks_when_every_node_loses_power_should_keep_every_acknowledged_record_once()
{
    let _serial = SERIAL.lock().await;
    let (_c, acked, records) = load_cut_restart(DURABLE_BROKER, DURABLE_TOPIC).await;
    let (lost, dup) = survivors(&records, &acked);
    eprintln!(
        "durable acks: {} acknowledged, {} lost, {} duplicated, {} records after restart",
        acked.len(),
        lost.len(),
        dup.len(),
        records.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged records lost: {:?}...",
        &lost[..lost.len().min(10)]
    );
    assert!(
        dup.is_empty(),
        "acknowledged records duplicated: {:?}...",
        &dup[..dup.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_page_cache_acks_when_every_node_loses_power_should_lose_acknowledged_records() {
    let _serial = SERIAL.lock().await;
    let (_c, acked, records) = load_cut_restart(PAGE_CACHE_BROKER, PAGE_CACHE_TOPIC).await;
    let (lost, _) = survivors(&records, &acked);
    eprintln!(
        "page-cache acks: {} acknowledged, {} LOST by the power cut, {} records after restart \
         (expected: the harness drops unsynced writes)",
        acked.len(),
        lost.len(),
        records.len()
    );
    assert!(
        !lost.is_empty(),
        "a power cut must lose page-cache acknowledged records; none lost means the harness \
         did not drop unsynced writes"
    );
}
