//! Consumer groups against a real local cluster: balanced assignment,
//! reassignment when a member dies or joins, and resuming from committed offsets.

use ferry_client::{AdminClient, Consumer, OffsetReset, Producer, ProducerConfig};
use ferry_test_cluster::TestCluster;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SESSION: Duration = Duration::from_millis(2000);

/// Polls every consumer until `check` holds on their assignments (or fails after 20 s).
async fn settle(
    consumers: &mut [Consumer],
    seen: &mut usize,
    check: impl Fn(&[Vec<(String, u32)>]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for c in consumers.iter_mut() {
            *seen += c.poll(Duration::from_millis(50)).await.unwrap().len();
        }
        let a: Vec<Vec<(String, u32)>> = consumers.iter().map(|c| c.assignment()).collect();
        if check(&a) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "assignments did not settle: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn balanced(sizes: &[usize]) -> impl Fn(&[Vec<(String, u32)>]) -> bool + '_ {
    move |a| {
        let mut got: Vec<usize> = a.iter().map(Vec::len).collect();
        got.sort();
        let all: BTreeSet<&(String, u32)> = a.iter().flatten().collect();
        got == sizes && all.len() == 6
    }
}

/// Three brokers and a 6-partition topic `work`.
async fn cluster_with_work(settings: &[(&str, &str)]) -> TestCluster {
    let cluster = TestCluster::builder(1, 3)
        .broker_settings(settings)
        .start()
        .await;
    AdminClient::new(cluster.controller_urls())
        .create_topic("work", 6, 1, [])
        .await
        .unwrap();
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_group_partitions_are_shared_moved_on_failure_and_offsets_resume_after_restart() {
    let cluster = cluster_with_work(&[("heartbeat_interval_ms", "250")]).await;
    let producer = Producer::connect(ProducerConfig::new(
        cluster.broker_urls(),
        cluster.controller_urls(),
    ))
    .await
    .unwrap();
    let produce = |n: usize, tag: &'static str| {
        let producer = &producer;
        async move {
            let mut ds = Vec::new();
            for i in 0..n {
                ds.push(
                    producer
                        .send_to(
                            "work",
                            (i % 6) as u32,
                            None,
                            format!("{tag}-{i}").into_bytes(),
                        )
                        .await
                        .unwrap(),
                );
            }
            for d in ds {
                d.await.unwrap().unwrap();
            }
        }
    };
    produce(600, "first").await;

    let brokers = cluster.broker_urls();
    let mut members = Vec::new();
    for i in 0..3 {
        let mut c = Consumer::new(
            vec![brokers[i % brokers.len()].clone()],
            OffsetReset::Earliest,
        );
        c.subscribe("grp", &["work"], SESSION).await.unwrap();
        members.push(c);
    }
    let mut seen = 0;
    settle(&mut members, &mut seen, balanced(&[2, 2, 2])).await;

    // One member dies without leaving: after its session its partitions move.
    let dead = members.pop().unwrap();
    drop(dead);
    settle(&mut members, &mut seen, balanced(&[3, 3])).await;

    // A member joining later triggers a rebalance.
    let mut late = Consumer::new(vec![brokers[2].clone()], OffsetReset::Earliest);
    late.subscribe("grp", &["work"], SESSION).await.unwrap();
    members.push(late);
    settle(&mut members, &mut seen, balanced(&[2, 2, 2])).await;

    // Read everything, commit, shut down cleanly.
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen < 600 && Instant::now() < deadline {
        for c in members.iter_mut() {
            seen += c.poll(Duration::from_millis(100)).await.unwrap().len();
        }
    }
    assert!(
        seen >= 600,
        "the group as a whole saw every record at least once ({seen})"
    );
    for c in members.iter_mut() {
        c.poll(Duration::from_millis(50)).await.unwrap();
        c.commit().await.unwrap();
    }
    for c in members {
        c.close().await.unwrap();
    }

    // New records; a restarted group resumes from the committed offsets.
    produce(60, "second").await;
    let mut again = Consumer::new(vec![brokers[0].clone()], OffsetReset::Earliest);
    again.subscribe("grp", &["work"], SESSION).await.unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while values.len() < 60 && Instant::now() < deadline {
        for r in again.poll(Duration::from_millis(200)).await.unwrap() {
            values.push(String::from_utf8(r.value.unwrap()).unwrap());
        }
    }
    assert_eq!(
        values.len(),
        60,
        "only the new records after the restart: {values:?}"
    );
    assert!(
        values.iter().all(|v| v.starts_with("second-")),
        "{values:?}"
    );
    let committed = again.committed("grp").await.unwrap();
    assert_eq!(committed.offsets.len(), 6);
}

/// Polls `c` until `check` holds on the group description (20 s at most).
async fn until_described(
    admin: &ferry_client::GroupAdminClient,
    c: &mut Consumer,
    what: &str,
    check: impl Fn(&ferry_common::groups::GroupDescription) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        c.poll(Duration::from_millis(50)).await.unwrap();
        if admin.describe_group("slow").await.is_ok_and(|d| check(&d)) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_slow_application_heartbeats_keep_it_in_the_group_until_max_poll_interval() {
    let cluster = cluster_with_work(&[
        ("heartbeat_interval_ms", "250"),
        ("group_initial_rebalance_delay_ms", "0"),
    ])
    .await;
    let admin = ferry_client::GroupAdminClient::new(cluster.broker_urls());
    let mut fast = Consumer::new(cluster.broker_urls(), OffsetReset::Earliest);
    fast.subscribe("slow", &["work"], SESSION).await.unwrap();
    let mut slow = Consumer::new(cluster.broker_urls(), OffsetReset::Earliest);
    slow.max_poll_interval = Duration::from_secs(6);
    slow.subscribe("slow", &["work"], SESSION).await.unwrap();
    let (slow_id, _, _) = slow.membership().unwrap();
    slow.poll(Duration::from_millis(50)).await.unwrap();
    until_described(&admin, &mut fast, "two members", |d| {
        d.members.len() == 2 && d.state == "Stable"
    })
    .await;
    slow.poll(Duration::from_millis(50)).await.unwrap();
    // Not polling for twice the session: the heartbeat task keeps it a member.
    let idle = Instant::now();
    while idle.elapsed() < SESSION * 2 {
        fast.poll(Duration::from_millis(100)).await.unwrap();
    }
    let d = admin.describe_group("slow").await.unwrap();
    assert!(
        d.members.iter().any(|m| m.member_id == slow_id),
        "a member that heartbeats stays in the group: {d:?}"
    );
    // Past max_poll_interval it leaves, and its partitions move on.
    until_described(&admin, &mut fast, "the slow member leaving", |d| {
        d.members.len() == 1 && d.members[0].assignment.len() == 6
    })
    .await;
    // Its next poll joins again, under a new id.
    slow.poll(Duration::from_millis(50)).await.unwrap();
    until_described(&admin, &mut fast, "the slow member back", |d| {
        d.members.len() == 2 && d.members.iter().all(|m| m.member_id != slow_id)
    })
    .await;
}
