//! Durable by default: acks wait for fsyncs, group commit shares them, a
//! failed fsync is never acknowledged; `write.caching` acknowledges from the
//! page cache. Syncs are held or failed through the log's failpoints, so
//! nothing here depends on timing.

use super::Appender;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::partition::test_support::{b, meta, open, open_durable, rec};
use crate::partition::Partition;
use crate::replicas::ReplicaManager;
use crate::storage::SyncStats;
use ferry_common::records::Acks;
use ferry_common::ErrorCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on waiting for the code under test (a failure, never a sync point).
const PATIENCE: Duration = Duration::from_secs(10);

struct Leader {
    app: Appender,
    part: Arc<Partition>,
    stats: Arc<SyncStats>,
    _dirs: [tempfile::TempDir; 2],
}

/// Broker 1 leading epoch 1 of an RF 3 partition (min.insync 2), durable
/// (`write_caching` false) with its sync task, or page-cache.
fn leader(write_caching: bool) -> Leader {
    let (data, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node = Arc::new(Node::new(BrokerConfig::default(), "http://b1".into()));
    node.registered(b(1), 1, "cluster".into());
    let replicas = Arc::new(ReplicaManager::new(data.path(), false));
    let stats = Arc::new(SyncStats::default());
    let state = meta(1, 1, &[1, 2, 3], &[1, 2, 3]);
    let part = if write_caching {
        Arc::new(open(dir.path(), "id", state))
    } else {
        open_durable(dir.path(), "id", state, stats.clone())
    };
    Leader {
        app: Appender::new(node, replicas, Arc::new(Metrics::new().unwrap())),
        part,
        stats,
        _dirs: [data, dir],
    }
}

type Answer = tokio::task::JoinHandle<Result<Vec<i64>, BrokerError>>;

fn produce(l: &Leader, acks: Acks) -> Answer {
    let (app, part) = (l.app.clone(), l.part.clone());
    tokio::spawn(async move {
        app.append_local(&part, vec![rec("v")], acks, TIMEOUT, None, None)
            .await
    })
}

/// Waits (polling, with a deadline) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Both followers report (in their replica fetches) that they synced up to `offset`.
fn followers_synced(part: &Partition, offset: u64) {
    for f in [2, 3] {
        assert_eq!(part.on_follower_fetch(b(f), offset, b(1)), None);
    }
}

#[tokio::test]
async fn given_a_held_sync_when_acks_all_should_not_pass_the_unsynced_offset() {
    let l = leader(false);
    let hold = l.part.log.hold_syncs();
    let answer = produce(&l, Acks::All);
    until("the sync task is held", || l.part.log.syncs_blocked() == 1).await;
    assert_eq!(l.part.log.log_end_offset(), 1, "the record is appended");
    followers_synced(&l.part, 1);
    assert_eq!(
        l.part.high_watermark(),
        0,
        "every follower synced offset 0, but the leader did not"
    );
    assert!(
        !answer.is_finished(),
        "acknowledged before the leader's fsync"
    );
    drop(hold);
    assert_eq!(answer.await.unwrap().unwrap(), vec![0]);
    assert_eq!(l.part.high_watermark(), 1);
    assert_eq!(l.part.log.synced_offset(), 1);
}

#[tokio::test]
async fn given_followers_that_have_not_synced_when_the_leader_has_should_hold_the_hw() {
    let l = leader(false);
    let answer = produce(&l, Acks::All);
    until("the leader synced the record", || {
        l.part.log.synced_offset() == 1
    })
    .await;
    followers_synced(&l.part, 0);
    assert_eq!(
        l.part.high_watermark(),
        0,
        "followers report synced offset 0"
    );
    assert!(!answer.is_finished());
    followers_synced(&l.part, 1);
    assert_eq!(answer.await.unwrap().unwrap(), vec![0]);
}

#[tokio::test]
async fn given_a_held_sync_when_acks_1_should_answer_only_after_the_leader_fsync() {
    let l = leader(false);
    let hold = l.part.log.hold_syncs();
    let answer = produce(&l, Acks::Leader);
    until("the sync task is held", || l.part.log.syncs_blocked() == 1).await;
    assert_eq!(l.part.log.log_end_offset(), 1);
    assert!(!answer.is_finished(), "acks=1 answered before the fsync");
    drop(hold);
    assert_eq!(answer.await.unwrap().unwrap(), vec![0]);
    assert!(l.part.log.synced_offset() >= 1);
}

#[tokio::test]
async fn given_many_queued_appends_when_synced_should_share_one_fsync() {
    const N: usize = 64;
    let l = leader(false);
    let hold = l.part.log.hold_syncs();
    let answers: Vec<Answer> = (0..N).map(|_| produce(&l, Acks::Leader)).collect();
    until("every append is written", || {
        l.part.log.log_end_offset() == N as u64
    })
    .await;
    until("the sync task is held", || l.part.log.syncs_blocked() == 1).await;
    assert_eq!(l.part.log.fsync_count(), 0);
    drop(hold);
    for a in answers {
        assert!(a.await.unwrap().is_ok());
    }
    assert_eq!(
        l.part.log.fsync_count(),
        1,
        "one fsync covers every append queued behind it"
    );
    // The task adds its round to the totals after the waiters were woken.
    until("the round is counted", || l.stats.totals().0 > 0).await;
    assert_eq!(l.stats.totals().0, 1);
    assert_eq!(l.stats.totals().1, N as u64, "records covered");
}

#[tokio::test]
async fn given_a_failed_fsync_should_answer_storage_error_and_refuse_writes() {
    let l = leader(false);
    let hold = l.part.log.hold_syncs();
    let acks_all = produce(&l, Acks::All);
    let acks_1 = produce(&l, Acks::Leader);
    until("both appends are written", || {
        l.part.log.log_end_offset() == 2
    })
    .await;
    followers_synced(&l.part, 2);
    l.part.log.fail_next_sync();
    drop(hold);
    for answer in [acks_all, acks_1] {
        match answer.await.unwrap() {
            Err(e) => assert_eq!(e.code(), ErrorCode::KafkaStorageError, "{e}"),
            Ok(offsets) => panic!("acknowledged records whose fsync failed: {offsets:?}"),
        }
    }
    assert_eq!(l.part.high_watermark(), 0, "the HW never counts them");
    let next = produce(&l, Acks::Leader).await.unwrap();
    assert_eq!(
        next.map_err(|e| e.code()),
        Err(ErrorCode::KafkaStorageError),
        "a failed fsync is sticky"
    );
}

#[tokio::test]
async fn given_write_caching_should_acknowledge_from_the_page_cache() {
    let l = leader(true);
    let _hold = l.part.log.hold_syncs();
    assert_eq!(
        produce(&l, Acks::Leader).await.unwrap().unwrap(),
        vec![0],
        "acks=1 needs no fsync"
    );
    let answer = produce(&l, Acks::All);
    until("the record is appended", || {
        l.part.log.log_end_offset() == 2
    })
    .await;
    followers_synced(&l.part, 2);
    assert_eq!(answer.await.unwrap().unwrap(), vec![1]);
    assert_eq!(l.part.high_watermark(), 2, "HW from appended offsets");
    assert_eq!(l.part.log.fsync_count(), 0, "nothing fsynced on the way");
}
