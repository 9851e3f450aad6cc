//! Scenario 1 for offset commits: a commit appended to `__consumer_offsets`
//! whose coordinator loses leadership before the commit is replicated.

use super::GroupOffsets;
use crate::config::BrokerConfig;
use crate::groups::routing::{CoordinatorRouter, OFFSETS_TOPIC};
use crate::membership::controller_client::ControllerClient;
use crate::metadata::MetadataCache;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::partition::test_support::{b, leader_batch, meta, settings};
use crate::peer_client::PeerClient;
use crate::produce::Appender;
use crate::replicas::{LeaderLookup, ReplicaManager};
use ferry_common::metadata::{MetadataImage, TopicImage};
use ferry_common::records::{OffsetCommit, OffsetCommitRequest};
use ferry_common::{ErrorCode, TopicName};
use std::collections::BTreeMap;
use std::sync::Arc;

fn topic(name: &str, id: &str) -> TopicImage {
    TopicImage {
        name: TopicName::new(name).unwrap(),
        topic_id: id.into(),
        replication_factor: 3,
        configs: BTreeMap::new(),
        partitions: vec![meta(1, 1, &[1, 2, 3], &[1, 2, 3])],
    }
}

/// Offsets coordinated by broker 1, leader of `__consumer_offsets`-0 (ISR 1, 2, 3).
fn coordinator(data: &std::path::Path) -> (Arc<GroupOffsets>, Arc<crate::partition::Partition>) {
    let node = Arc::new(Node::new(BrokerConfig::default(), "http://b1".into()));
    node.registered(b(1), 1, "cluster".into());
    let mut image = MetadataImage::default();
    for t in [topic(OFFSETS_TOPIC, "offsets-id"), topic("t", "t-id")] {
        image.topics.insert(t.name.clone(), t);
    }
    let metadata = Arc::new(MetadataCache::default());
    metadata.install_snapshot(image.clone());
    let replicas = Arc::new(ReplicaManager::new(data, false));
    replicas.reconcile(&image, b(1), 0);
    let router = Arc::new(CoordinatorRouter {
        metadata: metadata.clone(),
        leaders: LeaderLookup::new(node.clone(), metadata, replicas.clone()),
        controller: Arc::new(ControllerClient::new(
            Vec::new(),
            crate::peer_client::test_signer(),
        )),
        offsets_rf: 1,
    });
    let appender = Appender::new(
        node.clone(),
        replicas.clone(),
        Arc::new(Metrics::new().unwrap()),
    );
    let offsets = Arc::new(GroupOffsets::new(
        node,
        replicas.clone(),
        router,
        appender,
        Arc::new(PeerClient::new(crate::peer_client::test_signer())),
    ));
    let part = replicas
        .get(&TopicName::new(OFFSETS_TOPIC).unwrap(), 0)
        .unwrap();
    (offsets, part)
}

#[tokio::test]
async fn concurrent_first_uses_of_a_coordinator_partition_load_it_once() {
    let data = tempfile::tempdir().unwrap();
    let (offsets, part) = coordinator(data.path());
    let uses: Vec<_> = (0..10)
        .map(|_| {
            let (offsets, part) = (offsets.clone(), part.clone());
            tokio::spawn(async move { offsets.with_loaded(&part, |_| ()).await })
        })
        .collect();
    for u in uses {
        u.await.unwrap().unwrap();
    }
    // A second load could replace state installed after it read the log.
    assert_eq!(offsets.loads.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn scenario_1_an_offset_commit_fails_when_the_coordinator_moves_before_commit() {
    let data = tempfile::tempdir().unwrap();
    let (offsets, part) = coordinator(data.path());
    let commit = tokio::spawn({
        let offsets = offsets.clone();
        let req = OffsetCommitRequest {
            offsets: vec![OffsetCommit {
                topic: "t".into(),
                partition: 0,
                offset: 5,
                metadata: None,
            }],
            member_id: None,
            member_epoch: None,
        };
        async move { offsets.commit("g", req, |_, _| Ok(())).await }
    });
    while part.hw_waiters() < 1 {
        assert!(!commit.is_finished(), "the commit finished before waiting");
        tokio::task::yield_now().await;
    }
    // Broker 2 takes over in epoch 2 before anyone fetched the commit; broker
    // 1 truncates it and takes broker 2's record at its offset.
    part.update(meta(2, 2, &[1, 2, 3], &[1, 2, 3]), settings(1), b(1));
    part.truncate_to(0).unwrap();
    part.append_replicated(&leader_batch(0, 2, &["another"]))
        .unwrap();
    part.follower_hw(1);
    match commit.await.unwrap() {
        Err(e) => assert_eq!(e.code(), ErrorCode::NotLeaderOrFollower, "{e}"),
        Ok(res) => panic!("acknowledged a truncated offset commit: {res:?}"),
    }
}
