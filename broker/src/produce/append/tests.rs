//! Scenario 1: an acks=all wait on a real [`Partition`] whose leadership
//! moves before the record is committed.

use super::Appender;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::partition::test_support::{b, leader_batch, meta, open, rec, settings};
use crate::partition::Partition;
use crate::replicas::ReplicaManager;
use ferry_common::records::Acks;
use ferry_common::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

fn appender(data: &std::path::Path) -> Appender {
    let node = Arc::new(Node::new(BrokerConfig::default(), "http://b1".into()));
    node.registered(b(1), 1, "cluster".into());
    let replicas = Arc::new(ReplicaManager::new(data, false));
    Appender::new(node, replicas, Arc::new(Metrics::new().unwrap()))
}

/// Broker 1 leading epoch 1 of an RF 3 partition (min.insync 2) in a
/// temporary directory, with an [`Appender`].
struct Leader {
    app: Appender,
    part: Arc<Partition>,
    _dirs: [tempfile::TempDir; 2],
}

fn leader() -> Leader {
    let (data, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    Leader {
        app: appender(data.path()),
        part: Arc::new(open(dir.path(), "id", meta(1, 1, &[1, 2, 3], &[1, 2, 3]))),
        _dirs: [data, dir],
    }
}

type Answer = tokio::task::JoinHandle<Result<Vec<i64>, BrokerError>>;

/// Starts an acks=all append of one record and returns once it waits for
/// the HW (without sleeping).
async fn waiting_append(l: &Leader, producer: Option<super::ProducerBatchId>) -> Answer {
    let (app, part) = (l.app.clone(), l.part.clone());
    let answer = tokio::spawn(async move {
        app.append_local(&part, vec![rec("v")], Acks::All, TIMEOUT, producer, None)
            .await
    });
    while l.part.hw_waiters() < 1 {
        assert!(!answer.is_finished(), "the append finished before waiting");
        tokio::task::yield_now().await;
    }
    answer
}

/// Leadership moves to broker 2 (epoch 2) before any follower fetched offset
/// 0; broker 1 truncates it as divergent, takes broker 2's record at offset 0,
/// and its HW passes offset 0 as a follower.
fn lose_leadership_and_offset_0(part: &Partition) {
    part.update(meta(2, 2, &[1, 2, 3], &[1, 2, 3]), settings(2), b(1));
    part.truncate_to(0).unwrap();
    part.append_replicated(&leader_batch(0, 2, &["another"]))
        .unwrap();
    part.follower_hw(1);
    assert!(part.high_watermark() > 0);
}

fn assert_not_leader(res: Result<Vec<i64>, BrokerError>) {
    match res {
        Err(e) => assert_eq!(e.code(), ErrorCode::NotLeaderOrFollower, "{e}"),
        Ok(offsets) => panic!("acknowledged a truncated record at {offsets:?}"),
    }
}

#[tokio::test]
async fn scenario_1_acks_all_fails_when_leadership_moves_before_commit() {
    let l = leader();
    let answer = waiting_append(&l, None).await;
    lose_leadership_and_offset_0(&l.part);
    assert_not_leader(answer.await.unwrap());
}

/// The retry of an idempotent batch already in the log (acks=1 wrote it)
/// waits for it the same way, and fails the same way.
#[tokio::test]
async fn scenario_1_a_duplicate_retry_fails_when_leadership_moves_before_commit() {
    let l = leader();
    let batch = Some((7, 0, 0));
    let first = l
        .app
        .append_local(&l.part, vec![rec("v")], Acks::Leader, TIMEOUT, batch, None)
        .await
        .unwrap();
    assert_eq!(first, vec![0]);
    let retry = waiting_append(&l, batch).await;
    lose_leadership_and_offset_0(&l.part);
    assert_not_leader(retry.await.unwrap());
}

/// A role change alone ends the wait: the producer hears
/// `NOT_LEADER_OR_FOLLOWER` at once, not a timeout later.
#[tokio::test]
async fn scenario_1_a_role_change_fails_the_acks_all_wait_at_once() {
    let l = leader();
    let answer = waiting_append(&l, None).await;
    let started = std::time::Instant::now();
    l.part
        .update(meta(1, 2, &[1, 2, 3], &[1, 2, 3]), settings(2), b(1));
    assert_not_leader(answer.await.unwrap());
    assert!(
        started.elapsed() < TIMEOUT / 2,
        "answered only at the timeout"
    );
}

/// Topic-config validation refuses `segment.bytes` / `max.message.bytes` below
/// `MIN_BATCH_BYTES`; that floor must admit the smallest batch as the produce
/// path counts it and as the log encodes it, or a valid topic refuses writes.
#[test]
fn the_smallest_batch_fits_the_validated_floor() {
    use crate::storage::batch::encode_batch;
    use crate::storage::{BatchMeta, RecordIn};
    use ferry_common::topic_config::MIN_BATCH_BYTES;
    let empty = RecordIn::default();
    assert_eq!(
        super::batch_size(std::slice::from_ref(&empty)) as i64,
        MIN_BATCH_BYTES
    );
    let floor = MIN_BATCH_BYTES as u64;
    let (bytes, _) = encode_batch(0, &[empty], &BatchMeta::default(), 0, floor).unwrap();
    assert!(bytes.len() as u64 <= floor);
}
