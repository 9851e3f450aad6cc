//! Consumer groups across a coordinator failover, with real brokers: SIGKILL
//! the broker coordinating a group of three SDK members and the next
//! coordinator replays the group from `__consumer_offsets`, so the members
//! keep their ids, epochs and partitions (no rejoin, no reassignment), every
//! record is consumed, and only records fetched but not committed at the
//! kill may be delivered twice.

use ferry_client::{
    AdminClient, Consumer, GroupAdminClient, OffsetReset, Producer, ProducerConfig,
};
use ferry_common::groups::GroupDescription;
use ferry_test_cluster::TestCluster;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "payments";
const GROUP: &str = "gf";
const SESSION: Duration = Duration::from_secs(4);
type Rec = (u32, u64);

/// What a member task shares with the test.
#[derive(Default)]
struct Seen {
    /// Every (partition, offset) delivered, in order.
    records: Vec<Rec>,
    /// Per partition, the position of the member's last successful commit.
    committed: BTreeMap<u32, u64>,
    /// (member id, member epoch, group epoch) and partitions, as of the last poll.
    membership: Option<(String, u32, u32)>,
    assignment: BTreeSet<u32>,
}

type Shared = Arc<Mutex<Seen>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A member that polls, then commits what it polled, until `stop`.
fn member(
    brokers: Vec<String>,
    seen: Shared,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut c = Consumer::new(brokers, OffsetReset::Earliest);
        c.auto_commit_interval = None;
        c.heartbeat_interval = Duration::from_millis(300);
        c.subscribe(GROUP, &[TOPIC], SESSION).await.unwrap();
        while !stop.load(Ordering::SeqCst) {
            let Ok(records) = c.poll(Duration::from_millis(200)).await else {
                continue;
            };
            let positions: BTreeMap<u32, u64> = c
                .assignment()
                .into_iter()
                .filter_map(|(t, p)| Some((p, c.position(&t, p)?)))
                .collect();
            {
                let mut s = lock(&seen);
                s.records
                    .extend(records.iter().map(|r| (r.partition, r.offset)));
                s.membership = c.membership();
                s.assignment = positions.keys().copied().collect();
            }
            if !records.is_empty() && c.commit().await.is_ok() {
                lock(&seen).committed.extend(positions);
            }
        }
        c.close().await.unwrap();
    })
}

async fn until(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produces 10 keyed records every 50 ms until `stop`; answers where those acknowledged landed.
fn produce_until(p: Producer, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Rec>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            // A send the failover fails is not counted as produced (one that
            // landed anyway is just consumed on top).
            let mut sent = Vec::new();
            for i in all.len()..all.len() + 10 {
                let key = format!("k{i}").into_bytes();
                sent.extend(p.send(TOPIC, Some(key), b"v".to_vec()).await.ok());
            }
            for d in sent {
                if let Ok(Ok(m)) = d.await {
                    all.push((m.partition, m.offset as u64));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        all
    })
}

/// Each member's (id, epoch, partitions), and the group epoch.
fn members(d: &GroupDescription) -> (u32, BTreeMap<String, (u32, Vec<u32>)>) {
    let members = d
        .members
        .iter()
        .map(|m| {
            let parts = m.assignment.iter().map(|tp| tp.partition).collect();
            (m.member_id.clone(), (m.member_epoch, parts))
        })
        .collect();
    (d.generation, members)
}

/// The broker that coordinates `GROUP`: the leader of its `__consumer_offsets` partition.
async fn coordinator(cluster: &TestCluster) -> String {
    let (_, meta) = cluster
        .get(&format!(
            "{}/v1/metadata?topics=__consumer_offsets",
            cluster.broker_urls()[0]
        ))
        .await;
    let parts = meta["topics"][0]["partitions"].as_array().unwrap();
    let p = ferry_common::partitioner::partition_for_key(GROUP.as_bytes(), parts.len() as u32);
    format!("broker-{}", parts[p as usize]["leader"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_the_coordinators_broker_is_killed_members_keep_their_epochs_and_partitions() {
    let cluster = TestCluster::builder(1, 3)
        .controller_settings(&[("broker_session_timeout_ms", "2000")])
        .broker_settings(&[
            ("heartbeat_interval_ms", "250"),
            ("replica_lag_time_max_ms", "2000"),
        ])
        .start()
        .await;
    AdminClient::new(cluster.controller_urls())
        .create_topic(TOPIC, 6, 3, [])
        .await
        .unwrap();
    // Asking for the group creates __consumer_offsets (RF 3).
    let admin = GroupAdminClient::new(cluster.broker_urls());
    admin.describe_group(GROUP).await.unwrap();
    let dead = coordinator(&cluster).await;
    // The members talk to the coordinator's broker first: losing it is the
    // worst case for them.
    let first = cluster.url(&dead);
    let mut brokers = vec![first.clone()];
    brokers.extend(cluster.broker_urls().into_iter().filter(|u| *u != first));
    let survivors = GroupAdminClient::new(brokers[1..].to_vec());

    let stop_producing = Arc::new(AtomicBool::new(false));
    let producer = Producer::connect(ProducerConfig::new(
        cluster.broker_urls(),
        cluster.controller_urls(),
    ))
    .await
    .unwrap();
    let production = produce_until(producer, stop_producing.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Vec<Shared> = (0..3).map(|_| Shared::default()).collect();
    let tasks: Vec<_> = seen
        .iter()
        .map(|s| member(brokers.clone(), s.clone(), stop.clone()))
        .collect();
    let stable = |d: &GroupDescription| {
        d.state == "Stable"
            && d.members.len() == 3
            && d.members.iter().all(|m| m.assignment.len() == 2)
    };
    until(
        "three members sharing the partitions",
        Duration::from_secs(30),
        async || {
            stable(&admin.describe_group(GROUP).await.unwrap())
                && seen.iter().all(|s| !lock(s).records.is_empty())
        },
    )
    .await;
    let before = admin.describe_group(GROUP).await.unwrap();
    let sdk_before: Vec<_> = seen.iter().map(|s| lock(s).membership.clone()).collect();

    cluster.kill(&dead);
    let killed_at = Instant::now();
    let committed_at_kill: BTreeMap<u32, u64> = seen
        .iter()
        .flat_map(|s| lock(s).committed.clone())
        .collect();
    let delivered_at_kill: Vec<usize> = seen.iter().map(|s| lock(s).records.len()).collect();
    // Members keep consuming through the new coordinator, past a whole
    // session: had their heartbeats not reached it, they would have expired.
    until(
        "progress after the failover",
        Duration::from_secs(40),
        async || {
            killed_at.elapsed() > SESSION + Duration::from_secs(1)
                && seen
                    .iter()
                    .zip(&delivered_at_kill)
                    .all(|(s, n)| lock(s).records.len() > *n)
        },
    )
    .await;
    stop_producing.store(true, Ordering::SeqCst);
    let produced: BTreeSet<Rec> = production.await.unwrap().into_iter().collect();
    until(
        "every record consumed",
        Duration::from_secs(30),
        async || {
            let got: BTreeSet<Rec> = seen.iter().flat_map(|s| lock(s).records.clone()).collect();
            produced.is_subset(&got)
        },
    )
    .await;
    let after = survivors.describe_group(GROUP).await.unwrap();
    let sdk_after: Vec<_> = seen.iter().map(|s| lock(s).membership.clone()).collect();
    eprintln!(
        "failover: killed {dead}, {} records, members before {:?}, after {:?}",
        produced.len(),
        members(&before),
        members(&after)
    );
    assert!(
        stable(&after),
        "the group is stable after the failover: {after:?}"
    );
    assert_eq!(
        members(&after),
        members(&before),
        "epochs and assignments kept"
    );
    assert_eq!(
        sdk_after, sdk_before,
        "the members saw no rejoin and no new epoch"
    );

    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let mut counts: BTreeMap<Rec, usize> = BTreeMap::new();
    for s in &seen {
        for r in &lock(s).records {
            *counts.entry(*r).or_insert(0) += 1;
        }
    }
    let dups: Vec<&Rec> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(r, _)| r)
        .collect();
    eprintln!("failover: {} records delivered twice", dups.len());
    for (p, o) in dups {
        assert!(
            *o >= committed_at_kill.get(p).copied().unwrap_or(0),
            "({p}, {o}) delivered twice though committed at the kill ({committed_at_kill:?})"
        );
    }
}
