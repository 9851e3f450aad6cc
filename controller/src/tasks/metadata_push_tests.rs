//! The push worker against a stand-in broker that enforces a body limit and
//! resyncs only when it sees a gap or is told to, on paused tokio time.

use super::*;
use crate::metadata::commands::{Command, CommandRequest};
use crate::metadata::ControllerState;
use ferry_common::internal::RegisterBrokerRequest;
use ferry_common::metadata::{DeltaFit, MetadataImage};
use ferry_common::TopicName;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Always the active controller.
struct Leader;

impl Role for Leader {
    fn is_leader(&self) -> bool {
        true
    }
    fn term(&self) -> u64 {
        1
    }
    fn node_id(&self) -> u64 {
        1
    }
}

/// A broker as the controller sees it over HTTP: refuses bodies over `limit`
/// (413), applies deltas in order, pulls a snapshot (from `view`) on a gap or
/// when told to, and otherwise only moves to the head when it has every record.
struct StandIn {
    limit: usize,
    view: Arc<StateView>,
    image: Mutex<MetadataImage>,
    /// Serialized sizes of the pushes it accepted.
    accepted: Mutex<Vec<usize>>,
    refused: AtomicUsize,
    snapshots: AtomicUsize,
}

impl StandIn {
    fn new(limit: usize, view: Arc<StateView>, image: MetadataImage) -> Arc<Self> {
        Arc::new(StandIn {
            limit,
            view,
            image: Mutex::new(image),
            accepted: Mutex::new(Vec::new()),
            refused: AtomicUsize::new(0),
            snapshots: AtomicUsize::new(0),
        })
    }

    fn image(&self) -> MetadataImage {
        self.image.lock().unwrap().clone()
    }
}

impl DeltaSink for StandIn {
    async fn push(&self, _url: &str, push: &MetadataPush) -> Result<u64, PushError> {
        let size = serde_json::to_vec(push).unwrap().len();
        if size > self.limit {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(PushError::TooLarge(format!("{size} bytes")));
        }
        self.accepted.lock().unwrap().push(size);
        let mut img = self.image.lock().unwrap();
        let gap = push
            .deltas
            .iter()
            .any(|d| img.apply_delta(d) == DeltaFit::Gap);
        if gap || push.resync {
            self.snapshots.fetch_add(1, Ordering::Relaxed);
            *img = self.view.read(|s| s.image.clone());
        }
        if img.last_record_offset == push.head_last_record_offset {
            img.offset = img.offset.max(push.head_offset);
        }
        Ok(img.offset)
    }
}

fn register(id: u32) -> Command {
    Command::RegisterBroker(RegisterBrokerRequest {
        broker_id: Some(BrokerId(id)),
        url: format!("http://b{id}"),
        rack: None,
        incarnation_id: format!("i{id}"),
        cluster_id: None,
        previous_shutdown: Default::default(),
    })
}

fn create(name: &str, partitions: u32) -> Command {
    Command::CreateTopic {
        name: TopicName::new(name).unwrap(),
        topic_id: format!("id-{name}"),
        partitions,
        replication_factor: 3,
        configs: BTreeMap::new(),
        max_replicas_per_broker: None,
    }
}

/// Applies `commands` at the next offsets; answers the next free offset.
fn apply_all(view: &StateView, mut offset: u64, commands: Vec<Command>) -> u64 {
    for command in commands {
        let a = view.apply(
            offset,
            &CommandRequest {
                client: None,
                command,
            },
        );
        assert!(a.result.is_ok(), "{a:?}");
        offset += 1;
    }
    offset
}

/// A cluster id and three unfenced brokers.
fn bootstrap() -> Vec<Command> {
    let mut cmds = vec![Command::InitCluster {
        cluster_id: "c".into(),
    }];
    for id in 1..=3 {
        cmds.push(register(id));
    }
    cmds
}

/// Unfences brokers 1..=3 at the epochs the view gave them.
fn unfence(view: &StateView) -> Vec<Command> {
    view.read(|s| {
        s.image
            .brokers
            .values()
            .map(|b| Command::UnfenceBroker {
                broker_id: b.id,
                epoch: b.epoch,
            })
            .collect()
    })
}

/// A view with a cluster id and three unfenced brokers; answers the next offset.
fn cluster(ring_capacity: usize) -> (Arc<StateView>, u64) {
    let view = StateView::new(ControllerState::default(), ring_capacity);
    let next = apply_all(&view, 1, bootstrap());
    let next = apply_all(&view, next, unfence(&view));
    (view, next)
}

/// Runs a worker for broker 1 until the stand-in reaches the view's image (or
/// 20 s of paused time pass); answers whether it did.
async fn converges(view: &Arc<StateView>, broker: &Arc<StandIn>) -> bool {
    let worker = tokio::spawn(push_worker(
        Arc::new(Leader),
        view.clone(),
        Arc::new(SessionTable::default()),
        broker.clone(),
        BrokerId(1),
    ));
    let want = view.read(|s| s.image.clone());
    let done = tokio::time::timeout(Duration::from_secs(20), async {
        while broker.image() != want {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok();
    worker.abort();
    done
}

/// [`converges`], or fails saying where the broker is stuck.
async fn assert_converges(view: &Arc<StateView>, broker: &Arc<StandIn>) {
    let done = converges(view, broker).await;
    let (mine, head) = (broker.image(), view.read(|s| s.image.clone()));
    assert!(
        done,
        "broker stuck at offset {} (last record {}) of {} (last record {}); {} pushes refused as too large",
        mine.offset,
        mine.last_record_offset,
        head.offset,
        head.last_record_offset,
        broker.refused.load(Ordering::Relaxed)
    );
}

#[tokio::test(start_paused = true)]
async fn scenario_8a_pushes_are_split_to_stay_under_the_broker_body_limit() {
    let (view, next) = cluster(1024);
    // 256 creates of 100 partitions: about 3.5 MB of deltas.
    let topics = (0..256).map(|i| create(&format!("t{i}"), 100)).collect();
    apply_all(&view, next, topics);
    let broker = StandIn::new(2 * 1024 * 1024, view.clone(), MetadataImage::default());
    assert_converges(&view, &broker).await;
    assert_eq!(broker.refused.load(Ordering::Relaxed), 0);
    assert_eq!(
        broker.snapshots.load(Ordering::Relaxed),
        0,
        "deltas, not a snapshot"
    );
    let accepted = broker.accepted.lock().unwrap().clone();
    assert!(accepted.len() > 1, "{accepted:?}");
    assert!(
        accepted.iter().all(|&n| n <= MAX_PUSH_BYTES + 1024),
        "{accepted:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn scenario_8a_a_delta_over_the_broker_body_limit_makes_it_resync() {
    let (view, next) = cluster(1024);
    apply_all(&view, next, vec![create("big", 2000)]);
    // A broker whose body limit is far below that one delta.
    let broker = StandIn::new(64 * 1024, view.clone(), MetadataImage::default());
    assert_converges(&view, &broker).await;
    assert!(broker.snapshots.load(Ordering::Relaxed) >= 1);
}

#[tokio::test(start_paused = true)]
async fn scenario_8b_after_a_controller_restart_a_broker_that_missed_records_resyncs() {
    // The broker saw the state up to topic `a`; the controller went on to `b`.
    let (before, next) = cluster(64);
    let next = apply_all(&before, next, vec![create("a", 3)]);
    let broker_image = before.read(|s| s.image.clone());
    apply_all(&before, next, vec![create("b", 3)]);
    // Restart: the state reloads from sled, the delta ring starts empty.
    let view = StateView::new(before.read(|s| s.clone()), 64);
    let broker = StandIn::new(16 * 1024 * 1024, view.clone(), broker_image);
    assert_converges(&view, &broker).await;
    assert_eq!(broker.snapshots.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn scenario_8b_after_a_snapshot_install_a_broker_that_missed_records_resyncs() {
    let (view, next) = cluster(64);
    let next = apply_all(&view, next, vec![create("a", 3)]);
    let broker_image = view.read(|s| s.image.clone());
    // The leader's state went on without this node; it installs a snapshot.
    let leader = StateView::new(view.read(|s| s.clone()), 64);
    apply_all(&leader, next, vec![create("b", 3)]);
    view.replace(leader.read(|s| s.clone()));
    let broker = StandIn::new(16 * 1024 * 1024, view.clone(), broker_image);
    assert_converges(&view, &broker).await;
    assert_eq!(broker.snapshots.load(Ordering::Relaxed), 1);
}
