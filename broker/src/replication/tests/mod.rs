//! Replication tests against stand-in peers: a local replica in a temp dir,
//! driven by the real fetch loop or ISR driver, talking to a small axum
//! server on 127.0.0.1:0 that the test answers request by request.

mod isr_driver;
mod stale_fetch;

use crate::config::BrokerConfig;
use crate::node::Node;
use crate::partition::{Partition, PartitionSettings};
use crate::replicas::ReplicaManager;
use crate::storage::{BatchMeta, PartitionLog, RecordIn, TimestampType};
use ferry_common::metadata::{BrokerRegistration, MetadataImage, PartitionState, TopicImage};
use ferry_common::{BrokerId, TopicName};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Upper bound on waiting for the code under test (a failure, never a sync point).
const PATIENCE: Duration = Duration::from_secs(10);

fn b(i: u32) -> BrokerId {
    BrokerId(i)
}

fn topic() -> TopicName {
    TopicName::new("t").unwrap_or_else(|e| panic!("{e}"))
}

/// Partition 0 of `t` on brokers 1 and 2.
fn state(leader: u32, leader_epoch: u32, partition_epoch: u32, isr: &[u32]) -> PartitionState {
    PartitionState {
        partition: 0,
        leader: Some(b(leader)),
        leader_epoch,
        partition_epoch,
        replicas: vec![b(1), b(2)],
        isr: isr.iter().map(|i| b(*i)).collect(),
        elr: vec![],
    }
}

fn settings() -> PartitionSettings {
    PartitionSettings {
        min_insync_replicas: 1,
        ..PartitionSettings::from_configs(&BTreeMap::new())
    }
}

/// An image holding `part` and broker `leader` reachable at `leader_url`.
fn image(part: &PartitionState, leader: u32, leader_url: &str) -> MetadataImage {
    let mut img = MetadataImage::default();
    img.brokers.insert(
        b(leader),
        BrokerRegistration {
            id: b(leader),
            url: leader_url.to_string(),
            rack: None,
            incarnation_id: "stand-in".into(),
            epoch: 1,
            fenced: false,
            unclean_restarts: 0,
        },
    );
    img.topics.insert(
        topic(),
        TopicImage {
            name: topic(),
            topic_id: "t-id".into(),
            replication_factor: 2,
            configs: BTreeMap::new(),
            partitions: vec![part.clone()],
        },
    );
    img
}

/// This broker (`me`, registered) with its replica of partition 0 of `t`.
struct Local {
    _dir: tempfile::TempDir,
    node: Arc<Node>,
    replicas: Arc<ReplicaManager>,
    part: Arc<Partition>,
}

fn local(me: BrokerId, img: &MetadataImage) -> Local {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let node = Arc::new(Node::new(BrokerConfig::default(), "http://me".into()));
    node.registered(me, 1, "cluster".into());
    let replicas = Arc::new(ReplicaManager::new(dir.path(), false));
    replicas.reconcile(img, me, img.offset);
    let part = replicas
        .get(&topic(), 0)
        .unwrap_or_else(|| panic!("replica not created"));
    Local {
        _dir: dir,
        node,
        replicas,
        part,
    }
}

/// Appends `n` one-record batches stamped `leader_epoch` to `log`.
fn fill(log: &PartitionLog, n: usize, leader_epoch: u32) {
    let meta = BatchMeta {
        leader_epoch,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        timestamp_type: TimestampType::CreateTime,
    };
    for i in 0..n {
        let rec = RecordIn {
            timestamp: i as i64,
            key: None,
            value: Some(format!("v{i}").into_bytes()),
            headers: Vec::new(),
        };
        log.append(&[rec], meta, 0)
            .unwrap_or_else(|e| panic!("append: {e}"));
    }
}

/// One request the stand-in received, with the way to answer it.
type Call<Req, Resp> = (Req, oneshot::Sender<Resp>);

/// Stand-in side: hands `req` to the test and waits for its answer (None
/// once the test stopped listening).
async fn hand_over<Req, Resp>(tx: &mpsc::Sender<Call<Req, Resp>>, req: Req) -> Option<Resp> {
    let (reply, answer) = oneshot::channel();
    tx.send((req, reply)).await.ok()?;
    answer.await.ok()
}

/// Serves `router` on 127.0.0.1:0; answers its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// The next request the stand-in received (fails the test if none comes).
async fn next_call<Req, Resp>(
    rx: &mut mpsc::Receiver<Call<Req, Resp>>,
    what: &str,
) -> Call<Req, Resp> {
    match tokio::time::timeout(PATIENCE, rx.recv()).await {
        Ok(Some(call)) => call,
        Ok(None) => panic!("stand-in closed before {what}"),
        Err(_) => panic!("no {what} within {PATIENCE:?}"),
    }
}
