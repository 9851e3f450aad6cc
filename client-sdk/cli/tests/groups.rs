//! Consumer groups with the real `ferry` binary against a real RF 3 cluster:
//! members that start together print every record once; a rolling change
//! (join, clean leave, SIGKILL) misses nothing and duplicates only what the
//! killed member printed after its last commit; a member paused past its
//! session is fenced, rejoins, and no committed offset moves backwards.

use ferry_client::{AdminClient, GroupAdminClient, Producer, ProducerConfig};
use ferry_common::groups::GroupDescription;
use ferry_test_cluster::TestCluster;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "orders";
type Rec = (u32, u64);

/// One `ferry consume --group` process printing JSON lines to a file.
struct CliConsumer {
    child: Child,
    out: PathBuf,
}

impl CliConsumer {
    fn spawn(cluster: &TestCluster, group: &str, name: &str, session_ms: u64) -> CliConsumer {
        let out = cluster.dir().join(format!("{name}.out"));
        let err = cluster.dir().join(format!("{name}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["--bootstrap", &cluster.controller_urls().join(",")])
            .args([
                "--json",
                "consume",
                TOPIC,
                "--group",
                group,
                "--from-beginning",
            ])
            .args(["--session-timeout-ms", &session_ms.to_string()])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        CliConsumer { child, out }
    }

    /// The (partition, offset) of every complete line printed so far.
    fn records(&self) -> Vec<Rec> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| Some((v["partition"].as_u64()? as u32, v["offset"].as_u64()?)))
            .collect()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// SIGTERM, then waits (up to 20 s) for a clean exit.
    async fn terminate(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "consumer exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "consumer did not exit on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for CliConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn until(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn cluster_with_topic() -> TestCluster {
    let cluster = TestCluster::builder(1, 3)
        .broker_settings(&[("heartbeat_interval_ms", "250")])
        .start()
        .await;
    AdminClient::new(cluster.controller_urls())
        .create_topic(TOPIC, 6, 3, [])
        .await
        .unwrap();
    cluster
}

async fn producer(cluster: &TestCluster) -> Producer {
    Producer::connect(ProducerConfig::new(
        cluster.broker_urls(),
        cluster.controller_urls(),
    ))
    .await
    .unwrap()
}

/// Produces `n` keyed records starting at key `from`; answers where they landed.
async fn produce(p: &Producer, from: usize, n: usize) -> Vec<Rec> {
    let mut ds = Vec::new();
    for i in from..from + n {
        let key = format!("k{i}").into_bytes();
        ds.push(
            p.send(TOPIC, Some(key), format!("v{i}").into_bytes())
                .await
                .unwrap(),
        );
    }
    let mut out = Vec::new();
    for d in ds {
        let m = d.await.unwrap().unwrap();
        out.push((m.partition, m.offset as u64));
    }
    out
}

/// Produces 20 records every 50 ms until `stop`; answers all of them.
fn produce_until(p: Producer, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Rec>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let n = all.len();
            all.extend(produce(&p, n, 20).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        all
    })
}

/// A cluster with the topic and a producer writing to it until told to stop.
async fn cluster_producing() -> (
    TestCluster,
    Arc<AtomicBool>,
    tokio::task::JoinHandle<Vec<Rec>>,
) {
    let cluster = cluster_with_topic().await;
    let stop = Arc::new(AtomicBool::new(false));
    let production = produce_until(producer(&cluster).await, stop.clone());
    (cluster, stop, production)
}

fn printed(members: &[&CliConsumer]) -> BTreeMap<Rec, usize> {
    let mut counts = BTreeMap::new();
    for m in members {
        for r in m.records() {
            *counts.entry(r).or_insert(0) += 1;
        }
    }
    counts
}

async fn describe(cluster: &TestCluster, group: &str) -> GroupDescription {
    GroupAdminClient::new(cluster.broker_urls())
        .describe_group(group)
        .await
        .unwrap()
}

/// The group has `n` members, all six partitions owned and none moving.
fn settled(d: &GroupDescription, n: usize) -> bool {
    let owned: usize = d.members.iter().map(|m| m.assignment.len()).sum();
    d.members.len() == n && owned == 6 && d.state == "Stable"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_three_cli_consumers_started_together_every_record_is_printed_exactly_once() {
    let cluster = cluster_with_topic().await;
    let produced: BTreeSet<Rec> = produce(&producer(&cluster).await, 0, 3000)
        .await
        .into_iter()
        .collect();
    let mut members: Vec<CliConsumer> = (0..3)
        .map(|i| CliConsumer::spawn(&cluster, "g1", &format!("c{i}"), 10_000))
        .collect();
    until(
        "every record printed",
        Duration::from_secs(60),
        async || printed(&members.iter().collect::<Vec<_>>()).len() >= produced.len(),
    )
    .await;
    for m in members.iter_mut() {
        m.terminate().await;
    }
    let counts = printed(&members.iter().collect::<Vec<_>>());
    let keys: BTreeSet<Rec> = counts.keys().cloned().collect();
    assert_eq!(keys, produced, "printed exactly the produced records");
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        dups.is_empty(),
        "{} records printed more than once",
        dups.len()
    );
    for m in &members {
        assert!(
            !m.records().is_empty(),
            "every member shared the first assignment"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_rolling_change_no_record_is_missed_and_only_the_killed_members_uncommitted_work_repeats(
) {
    let (cluster, stop, production) = cluster_producing().await;
    let session = 3_000;
    let mut a = CliConsumer::spawn(&cluster, "g2", "a", session);
    let b = CliConsumer::spawn(&cluster, "g2", "b", session);
    let mut c = CliConsumer::spawn(&cluster, "g2", "c", session);
    until(
        "three members reading",
        Duration::from_secs(30),
        async || [&a, &b, &c].iter().all(|m| !m.records().is_empty()),
    )
    .await;
    // A fourth member joins: partitions move by revoke, then assign.
    let mut d = CliConsumer::spawn(&cluster, "g2", "d", session);
    until(
        "the fourth member reading",
        Duration::from_secs(30),
        async || !d.records().is_empty() && settled(&describe(&cluster, "g2").await, 4),
    )
    .await;
    // One leaves cleanly (commits, then leaves).
    c.terminate().await;
    until("three members again", Duration::from_secs(30), async || {
        settled(&describe(&cluster, "g2").await, 3)
    })
    .await;
    let before = printed(&[&a, &b, &d]).len();
    until(
        "progress after the leave",
        Duration::from_secs(30),
        async || printed(&[&a, &b, &d]).len() > before + 100,
    )
    .await;
    // One is killed: what it printed after its last commit is read again.
    let mut b = b;
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let last_commit: BTreeMap<u32, u64> = describe(&cluster, "g2")
        .await
        .offsets
        .iter()
        .map(|o| (o.partition, o.offset))
        .collect();
    let b_printed: BTreeSet<Rec> = b.records().into_iter().collect();
    until(
        "the killed member's partitions moved",
        Duration::from_secs(30),
        async || settled(&describe(&cluster, "g2").await, 2),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let produced: BTreeSet<Rec> = production.await.unwrap().into_iter().collect();
    until(
        "every record printed",
        Duration::from_secs(60),
        async || {
            let seen = printed(&[&a, &b, &c, &d]);
            produced.iter().all(|r| seen.contains_key(r))
        },
    )
    .await;
    a.terminate().await;
    d.terminate().await;
    let counts = printed(&[&a, &b, &c, &d]);
    let dups: Vec<Rec> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(r, _)| *r)
        .collect();
    let uncommitted: Vec<&Rec> = b_printed
        .iter()
        .filter(|(p, o)| *o >= last_commit.get(p).copied().unwrap_or(0))
        .collect();
    eprintln!(
        "rolling: {} records, {} printed twice, {} printed by the killed member after its last commit",
        produced.len(),
        dups.len(),
        uncommitted.len()
    );
    for r in &dups {
        assert!(
            uncommitted.contains(&r),
            "{r:?} printed twice but not uncommitted work of the killed member (last commit {last_commit:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_member_paused_past_its_session_its_commits_are_refused_it_rejoins_and_offsets_never_go_back(
) {
    let (cluster, stop, production) = cluster_producing().await;
    let mut a = CliConsumer::spawn(&cluster, "g3", "a", 2_000);
    until("the first member", Duration::from_secs(30), async || {
        settled(&describe(&cluster, "g3").await, 1)
    })
    .await;
    let a_id = describe(&cluster, "g3").await.members[0].member_id.clone();
    let mut b = CliConsumer::spawn(&cluster, "g3", "b", 2_000);
    until("two members reading", Duration::from_secs(30), async || {
        !b.records().is_empty() && settled(&describe(&cluster, "g3").await, 2)
    })
    .await;
    let paused = describe(&cluster, "g3")
        .await
        .members
        .into_iter()
        .find(|m| m.member_id == a_id)
        .expect("the first member is still in the group");
    // Watch committed offsets for the rest of the test.
    let watching = Arc::new(AtomicBool::new(true));
    let watch = tokio::spawn({
        let (admin, watching) = (
            GroupAdminClient::new(cluster.broker_urls()),
            watching.clone(),
        );
        async move {
            let mut high: BTreeMap<u32, u64> = BTreeMap::new();
            let mut backwards = Vec::new();
            while watching.load(Ordering::SeqCst) {
                if let Ok(d) = admin.describe_group("g3").await {
                    for o in d.offsets {
                        let h = high.entry(o.partition).or_insert(0);
                        if o.offset < *h {
                            backwards.push((o.partition, *h, o.offset));
                        }
                        *h = (*h).max(o.offset);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            backwards
        }
    });
    a.signal("STOP");
    until(
        "the paused member expired",
        Duration::from_secs(30),
        async || {
            let d = describe(&cluster, "g3").await;
            settled(&d, 1) && d.members[0].member_id != paused.member_id
        },
    )
    .await;
    // A commit in the paused member's name (here: moving back to 0) is refused.
    let tp = &paused.assignment[0];
    let url = format!("{}/v1/groups/g3/offsets", cluster.broker_urls()[0]);
    let body = serde_json::json!({
        "offsets": [{"topic": TOPIC, "partition": tp.partition, "offset": 0}],
        "member_id": paused.member_id, "member_epoch": paused.member_epoch,
    });
    let (status, answer) = cluster.post(&url, &body).await;
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (404, Some("UNKNOWN_MEMBER_ID"))
    );
    // So is a standalone commit while the group has members.
    let body = serde_json::json!({"offsets": [{"topic": TOPIC, "partition": 0, "offset": 0}]});
    let (status, answer) = cluster.post(&url, &body).await;
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (404, Some("UNKNOWN_MEMBER_ID"))
    );
    a.signal("CONT");
    until(
        "the paused member rejoined",
        Duration::from_secs(30),
        async || {
            let d = describe(&cluster, "g3").await;
            settled(&d, 2) && d.members.iter().all(|m| m.member_id != paused.member_id)
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let produced: Vec<Rec> = production.await.unwrap();
    until(
        "every record printed",
        Duration::from_secs(60),
        async || {
            let seen = printed(&[&a, &b]);
            produced.iter().all(|r| seen.contains_key(r))
        },
    )
    .await;
    a.terminate().await;
    b.terminate().await;
    watching.store(false, Ordering::SeqCst);
    let backwards = watch.await.unwrap();
    assert!(
        backwards.is_empty(),
        "committed offsets moved back: {backwards:?}"
    );
}
