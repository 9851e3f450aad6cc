//! Issue 11 item 6 on a real broker process: descriptors stay bounded by the
//! segment handle cache however many partitions and segments it holds, and
//! after a restart `/readyz` answers 200 only once every replica is open.

mod common;

use common::{start, Topics, FAST_BROKER};
use ferry_test_cluster::NodeState;
use serde_json::json;
use std::time::Duration;

const PARTITIONS: u32 = 500;
/// Batches (one record each) per partition; each rolls a segment.
const BATCHES: usize = 3;
const HANDLES: usize = 64;
/// The handle cache plus sockets and the process's own files.
const FD_BOUND: usize = HANDLES + 200;

fn open_fds(tc: &common::TestCluster) -> usize {
    let NodeState::Running(pid) = tc.local_cluster().state("broker-1").unwrap() else {
        panic!("broker-1 is not running");
    };
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_500_partitions_of_several_segments_fds_stay_bounded_and_ready_means_every_replica_is_open(
) {
    let handles = HANDLES.to_string();
    let mut broker = FAST_BROKER.to_vec();
    broker.push(("storage.open_segment_handles_max", handles.as_str()));
    broker.push(("controlled_shutdown_timeout_ms", "500"));
    let tc = start(1, 1, &[], &broker).await;
    tc.create_topic(
        "many",
        PARTITIONS,
        1,
        json!({"segment.bytes": "200", "write.caching": "true"}),
    )
    .await;
    let url = tc.url("broker-1");
    let value = "x".repeat(100);
    // Four senders, each a quarter of the partitions, BATCHES requests each.
    let send = |from: u32| {
        let (tc, url, value) = (&tc, &url, &value);
        async move {
            for p in (from..PARTITIONS).step_by(4) {
                for _ in 0..BATCHES {
                    let u = format!("{url}/v1/topics/many/partitions/{p}/records");
                    let body = json!({"records": [{"value": value}], "acks": "1"});
                    let (s, v) = tc.post(&u, &body).await;
                    assert_eq!(s, 200, "{v}");
                }
            }
        }
    };
    tokio::join!(send(0), send(1), send(2), send(3));
    let fds = open_fds(&tc);
    assert!(
        fds < FD_BOUND,
        "{fds} descriptors open for {} segments",
        PARTITIONS as usize * BATCHES
    );

    tc.stop("broker-1");
    tc.start("broker-1");
    // Polls /readyz, refused connections included (the listener is not up
    // at once), until 200.
    tc.wait_ready("broker-1", Duration::from_secs(50)).await;
    // Ready means open, not yet leading: the controller unfences the broker
    // and elects it for every partition after it is ready, and the broker
    // takes up each leadership in turn. Every partition must then answer with
    // its whole log (that readiness waits for the replicas to open is the
    // unit test `not_ready_nor_unfenceable_until_the_replicas_are_open` in broker/src/node.rs).
    for p in 0..PARTITIONS {
        let offsets = format!("{url}/v1/topics/many/partitions/{p}/offsets");
        let answered = ferry_test_cluster::wait_for(Duration::from_secs(30), || async {
            let (s, v) = tc.get(&offsets).await;
            (s == 200).then_some(v)
        })
        .await;
        let v =
            answered.unwrap_or_else(|| panic!("partition {p} never answered after the restart"));
        assert_eq!(v["log_end_offset"], BATCHES as u64, "partition {p}: {v}");
    }
    let fds = open_fds(&tc);
    assert!(fds < FD_BOUND, "{fds} descriptors open after the restart");
}
