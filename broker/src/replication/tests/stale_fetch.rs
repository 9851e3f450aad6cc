//! Scenario 10: a replica fetch answered after the follower took a newer
//! leader epoch (or another leader) is dropped whole: no append, no
//! truncation, no HW from it.

use super::{b, fill, hand_over, image, local, next_call, serve, settings, state, Call, Local};
use crate::metadata::MetadataCache;
use crate::peer_client::PeerClient;
use crate::replication::fetcher::ReplicaFetchers;
use crate::storage::{LogConfig, PartitionLog};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use ferry_common::internal::{
    encode_replica_fetch, EpochEndOffset, ReplicaFetchPartitionResult, ReplicaFetchRequest,
    ReplicaFetchResponse, REPLICA_FETCH_CONTENT_TYPE,
};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Answer = (ReplicaFetchPartitionResult, Vec<u8>);
type Calls = mpsc::Receiver<Call<ReplicaFetchRequest, Answer>>;

/// A leader that hands every replica fetch to the test and answers, in the
/// binary replica-fetch format, whatever the test sends back.
async fn replica_fetch(
    State(tx): State<mpsc::Sender<Call<ReplicaFetchRequest, Answer>>>,
    Json(req): Json<ReplicaFetchRequest>,
) -> Response {
    let Some((result, bytes)) = hand_over(&tx, req).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let header = ReplicaFetchResponse {
        partitions: vec![result],
    };
    match encode_replica_fetch(&header, &[bytes]) {
        Ok(body) => ([(header::CONTENT_TYPE, REPLICA_FETCH_CONTENT_TYPE)], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The leader's answer for partition 0 of `t`: `bytes` and where its log stands.
fn answer(bytes: Vec<u8>, hw: u64, diverging: Option<EpochEndOffset>) -> Answer {
    let result = ReplicaFetchPartitionResult {
        topic: "t".into(),
        partition: 0,
        error_code: None,
        high_watermark: hw,
        log_start_offset: 0,
        log_end_offset: 10,
        diverging_epoch: diverging,
        records_len: bytes.len(),
    };
    (result, bytes)
}

/// Broker 2 following broker 1 (a stand-in) in epoch 1 with 5 records, its
/// fetch loop running; also the 5 records after them on the leader.
struct Follower {
    me: Local,
    calls: Calls,
    fetchers: ReplicaFetchers,
    leader_tail: Vec<u8>,
    _leader_dir: tempfile::TempDir,
}

async fn following() -> Follower {
    let (tx, calls) = mpsc::channel(8);
    let url = serve(
        axum::Router::new()
            .route("/internal/v1/replica/fetch", post(replica_fetch))
            .with_state(tx),
    )
    .await;
    let img = image(&state(1, 1, 1, &[1, 2]), 1, &url);
    let me = local(b(2), &img);
    fill(&me.part.log, 5, 1);
    let leader_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let leader_log = PartitionLog::open(leader_dir.path(), LogConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    fill(&leader_log, 10, 1);
    let leader_tail = leader_log
        .read_batches(5, u64::MAX, 1 << 20)
        .unwrap_or_else(|e| panic!("{e}"));
    let metadata = Arc::new(MetadataCache::default());
    metadata.install_snapshot(img);
    let fetchers = ReplicaFetchers::new(
        me.node.clone(),
        metadata,
        me.replicas.clone(),
        Arc::new(PeerClient::new(crate::peer_client::test_signer())),
    );
    fetchers.sync();
    Follower {
        me,
        calls,
        fetchers,
        leader_tail,
        _leader_dir: leader_dir,
    }
}

/// The next fetch, checked to ask partition 0 in `epoch`; its fetch offset
/// (the follower's LEO then) and the way to answer it.
async fn next_fetch(f: &mut Follower, epoch: u32) -> (u64, oneshot::Sender<Answer>) {
    let (req, reply) = next_call(&mut f.calls, "replica fetch").await;
    let [p] = req.partitions.as_slice() else {
        panic!("one partition followed: {req:?}");
    };
    assert_eq!(p.current_leader_epoch, epoch, "{req:?}");
    (p.fetch_offset, reply)
}

#[tokio::test]
async fn scenario_10_records_answered_after_a_new_leader_epoch_are_not_appended() {
    let mut f = following().await;
    let part = f.me.part.clone();
    let (offset, reply) = next_fetch(&mut f, 1).await;
    assert_eq!(offset, 5);
    // While the leader holds its answer, the follower takes epoch 2.
    part.update(state(1, 2, 2, &[1, 2]), settings(), b(2));
    let _ = reply.send(answer(f.leader_tail.clone(), 10, None));
    // The next fetch (in epoch 2) comes once the answer was dealt with.
    let (offset, reply) = next_fetch(&mut f, 2).await;
    assert_eq!(offset, 5, "a stale answer appends nothing");
    assert_eq!(part.log.log_end_offset(), 5);
    assert_eq!(part.high_watermark(), 0, "nor moves the HW");

    // An answer in the current epoch is applied.
    let _ = reply.send(answer(f.leader_tail.clone(), 10, None));
    let (offset, _reply) = next_fetch(&mut f, 2).await;
    assert_eq!(offset, 10);
    assert_eq!(part.log.log_end_offset(), 10);
    assert_eq!(part.high_watermark(), 10);
    f.fetchers.stop();
}

#[tokio::test]
async fn scenario_10_a_divergence_answered_after_a_new_leader_epoch_truncates_nothing() {
    let mut f = following().await;
    let part = f.me.part.clone();
    let (_, reply) = next_fetch(&mut f, 1).await;
    part.update(state(1, 2, 2, &[1, 2]), settings(), b(2));
    // The old epoch's leader says its epoch 1 ended at offset 2.
    let diverging = EpochEndOffset {
        epoch: 1,
        end_offset: 2,
    };
    let _ = reply.send(answer(Vec::new(), 2, Some(diverging)));
    let (offset, _reply) = next_fetch(&mut f, 2).await;
    assert_eq!(offset, 5, "a stale divergence truncates nothing");
    assert_eq!(part.log.log_end_offset(), 5);
    f.fetchers.stop();
}

#[tokio::test]
async fn scenario_10_answers_from_a_former_leader_are_refused_under_the_lock() {
    let f = following().await;
    let part = f.me.part.clone();
    f.fetchers.stop();
    // The partition moved to broker 1's successor (another fetch loop).
    let mut moved = state(1, 2, 2, &[1, 2]);
    moved.leader = Some(b(3));
    part.update(moved, settings(), b(2));
    let appended = part.append_replicated_from(b(1), 1, &f.leader_tail);
    assert!(matches!(appended, Ok(None)), "{appended:?}");
    let cut = part.truncate_diverged_from(b(1), 2, |_| 0);
    assert!(matches!(cut, Ok(false)), "{cut:?}");
    assert!(!part.follower_hw_from(b(1), 2, 5));
    assert_eq!(part.log.log_end_offset(), 5);
    assert_eq!(part.high_watermark(), 0);
    assert!(part.follows(b(3), 2));
}

/// Durable by default: the follower's fetch reports the offset it has
/// fsynced (which the leader's HW follows), not the one it appended, and
/// takes no HW above it.
#[tokio::test]
async fn a_follower_reports_its_synced_offset_not_its_log_end() {
    let mut f = following().await;
    let part = f.me.part.clone();
    let (_, reply) = next_fetch(&mut f, 1).await;
    // The 5 records filled in before are synced first, then syncs are held.
    let deadline = std::time::Instant::now() + super::PATIENCE;
    while part.log.synced_offset() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fill was never synced"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let hold = part.log.hold_syncs();
    let held_at = part.log.synced_offset();
    let _ = reply.send(answer(f.leader_tail.clone(), 10, None));
    let (req, reply) = next_call(&mut f.calls, "replica fetch").await;
    let p = &req.partitions[0];
    assert_eq!(p.fetch_offset, 10, "reads on from its log end");
    assert_eq!(p.synced_offset, Some(held_at), "reports what it synced");
    assert!(
        part.high_watermark() <= held_at,
        "HW above its synced offset"
    );
    drop(hold);
    let _ = reply.send(answer(Vec::new(), 10, None));
    let deadline = std::time::Instant::now() + super::PATIENCE;
    loop {
        let (req, reply) = next_call(&mut f.calls, "replica fetch").await;
        if req.partitions[0].synced_offset == Some(10) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never reported 10");
        let _ = reply.send(answer(Vec::new(), 10, None));
    }
    assert_eq!(part.log.synced_offset(), 10);
    f.fetchers.stop();
}
