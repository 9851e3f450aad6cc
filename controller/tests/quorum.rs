//! Multi-process tests of the controller quorum: real `ferry-controller`
//! processes, real sled, real sockets; failures by SIGKILL and restart.

mod common;

use common::broker_standin::BrokerStandIn;
use common::{start_cluster, wait_for, NodeIdentity, Quorum, FAST};
use serde_json::json;
use std::time::{Duration, Instant};

/// Whether every stand-in's image shows topic `moving` with the leaders and
/// epochs the controller reports, within a deadline.
async fn converged(tc: &common::TestCluster, leader: &str, b: &[BrokerStandIn]) -> bool {
    wait_for(Duration::from_secs(15), || async {
        let (_, t) = tc.get_at(leader, "/v1/topics/moving").await;
        let want = t["partitions"].as_array()?.clone();
        let all = b.iter().all(|s| {
            let img = s.image();
            img.topics.values().any(|x| {
                x.name.as_str() == "moving"
                    && x.partitions.len() == want.len()
                    && x.partitions.iter().zip(&want).all(|(p, q)| {
                        p.leader.map(|l| l.0 as u64) == q["leader"].as_u64()
                            && Some(p.leader_epoch as u64) == q["leader_epoch"].as_u64()
                    })
            })
        });
        all.then_some(())
    })
    .await
    .is_some()
}

/// Registers `n` stand-in brokers and waits until all are unfenced.
async fn brokers(tc: &common::TestCluster, n: usize) -> Vec<BrokerStandIn> {
    let urls: Vec<String> = tc.controller_names().iter().map(|c| tc.url(c)).collect();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(BrokerStandIn::start(urls.clone(), tc.cluster_key(), None, true).await);
    }
    let leader = tc
        .agreed_leader(&tc.controller_names(), Duration::from_secs(20))
        .await;
    let unfenced = wait_for(Duration::from_secs(20), || async {
        let (_, v) = tc.get_at(&leader, "/v1/brokers").await;
        let b = v["brokers"].as_array()?;
        (b.len() >= n && b.iter().all(|b| b["fenced"] == false)).then_some(())
    })
    .await;
    assert!(unfenced.is_some(), "stand-in brokers were unfenced");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_three_controllers_when_writing_through_a_follower_should_answer_not_controller_and_leader_write_reaches_all(
) {
    let tc = start_cluster(3, FAST).await;
    let _b = brokers(&tc, 3).await;
    let names = tc.controller_names();
    let leader = tc.agreed_leader(&names, Duration::from_secs(20)).await;
    let follower = names.iter().find(|n| **n != leader).unwrap().clone();

    let body = json!({"name": "demo-topic", "partitions": 3, "replication_factor": 2});
    let (status, v) = tc.post_at(&follower, "/v1/topics", &body).await;
    assert_eq!(v["error_code"], "NOT_CONTROLLER", "{v}");
    assert_eq!(status, 307, "redirect so that curl -L works");
    assert_eq!(v["leader_url"], tc.url(&leader));
    assert_eq!(format!("controller-{}", v["leader_id"]), leader);

    let (status, v) = tc.post_at(&leader, "/v1/topics", &body).await;
    assert_eq!(status, 201, "{v}");
    let leaders: Vec<u64> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["leader"].as_u64().unwrap())
        .collect();
    assert_eq!(
        leaders,
        vec![1, 2, 3],
        "source document's example layout: {v}"
    );
    assert_eq!(v["partitions"][2]["replicas"], json!([3, 1]));

    for n in &names {
        let seen = wait_for(Duration::from_secs(10), || async {
            let (s, t) = tc.get_at(n, "/v1/topics/demo-topic").await;
            (s == 200).then_some(t)
        })
        .await
        .unwrap_or_else(|| panic!("{n} sees the topic"));
        assert_eq!(
            seen["partitions"], v["partitions"],
            "{n} has identical metadata"
        );
    }
    // A linearizable read on a follower is refused with the hint.
    let (_, v) = tc.get_at(&follower, "/v1/topics?consistent=true").await;
    assert_eq!(v["error_code"], "NOT_CONTROLLER");
    let (s, v) = tc.get_at(&leader, "/v1/topics?consistent=true").await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_leader_killed_should_elect_new_leader_keep_topics_and_restarted_node_catches_up_through_snapshot(
) {
    let mut settings = FAST.to_vec();
    settings.extend([
        ("raft.snapshot_every_entries", "10"),
        ("raft.log_entries_kept_after_snapshot", "2"),
    ]);
    let tc = start_cluster(3, &settings).await;
    let _b = brokers(&tc, 1).await;
    let names = tc.controller_names();
    let old = tc.agreed_leader(&names, Duration::from_secs(20)).await;
    for i in 0..5 {
        let (s, v) = tc.create_topic(&format!("before-{i}"), 1, 1).await;
        assert_eq!(s, 201, "{v}");
    }
    tc.kill(&old);
    let killed_at = Instant::now();
    let rest: Vec<String> = names.iter().filter(|n| **n != old).cloned().collect();
    let new = tc.agreed_leader(&rest, Duration::from_secs(20)).await;
    assert_ne!(new, old);
    let (s, v) = tc.create_topic("after-0", 1, 1).await;
    assert_eq!(s, 201, "{v}");
    eprintln!(
        "failover: first write {:?} after SIGKILL",
        killed_at.elapsed()
    );
    let expected: Vec<String> = (0..5)
        .map(|i| format!("before-{i}"))
        .chain(["after-0".to_string()])
        .collect();
    for n in &rest {
        let mut want = expected.clone();
        want.sort();
        // Followers apply on the next heartbeat: local reads converge, they are not linearizable.
        let kept = wait_for(Duration::from_secs(10), || async {
            (tc.topics_on(n).await == want).then_some(())
        })
        .await;
        assert!(kept.is_some(), "{n} kept every committed topic");
    }
    // Enough writes for the survivors to snapshot and purge past the dead node's log.
    for i in 1..30 {
        let (s, v) = tc.create_topic(&format!("after-{i}"), 1, 1).await;
        assert_eq!(s, 201, "{v}");
    }
    tc.start(&old);
    tc.wait_ready(&old, Duration::from_secs(30)).await;
    let all_on_leader = tc.topics_on(&new).await;
    assert_eq!(all_on_leader.len(), 35);
    let caught_up = wait_for(Duration::from_secs(20), || async {
        (tc.topics_on(&old).await == all_on_leader).then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "restarted {old} caught up");
    let log = std::fs::read_to_string(tc.log_file(&old)).unwrap();
    assert!(
        log.contains("installed metadata snapshot"),
        "{old} caught up through a snapshot install"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_all_controllers_stopped_when_restarted_should_restore_state_from_sled() {
    let tc = start_cluster(3, FAST).await;
    let b = brokers(&tc, 2).await;
    for i in 0..4 {
        let (s, v) = tc.create_topic(&format!("durable-{i}"), 2, 2).await;
        assert_eq!(s, 201, "{v}");
    }
    let leader = tc
        .agreed_leader(&tc.controller_names(), Duration::from_secs(10))
        .await;
    let (_, before) = tc.get_at(&leader, "/v1/topics/durable-3").await;
    let (_, cluster_before) = tc.get_at(&leader, "/v1/cluster").await;
    drop(b);
    for n in tc.controller_names() {
        tc.stop(&n);
    }
    tc.start_all().await;
    let leader = tc
        .agreed_leader(&tc.controller_names(), Duration::from_secs(20))
        .await;
    for n in tc.controller_names() {
        let topics = wait_for(Duration::from_secs(10), || async {
            let t = tc.topics_on(&n).await;
            (t.len() == 4).then_some(t)
        })
        .await;
        assert!(topics.is_some(), "{n} restored its topics");
    }
    let (_, after) = tc.get_at(&leader, "/v1/topics/durable-3").await;
    assert_eq!(after["topic_id"], before["topic_id"]);
    assert_eq!(after["partitions"].as_array().unwrap().len(), 2);
    let (_, cluster_after) = tc.get_at(&leader, "/v1/cluster").await;
    assert_eq!(cluster_after["cluster_id"], cluster_before["cluster_id"]);
    assert!(cluster_after["term"].as_u64() >= cluster_before["term"].as_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_only_one_of_three_alive_writes_fail_without_half_applying_and_succeed_once_quorum_returns(
) {
    let tc = start_cluster(3, FAST).await;
    let _b = brokers(&tc, 1).await;
    let names = tc.controller_names();
    let leader = tc.agreed_leader(&names, Duration::from_secs(20)).await;
    let others: Vec<String> = names.iter().filter(|n| **n != leader).cloned().collect();
    for n in &others {
        tc.kill(n);
    }
    let body = json!({"name": "lonely", "partitions": 4, "replication_factor": 1});
    let (status, v) = tc.post_at(&leader, "/v1/topics", &body).await;
    let code = v["error_code"].as_str().unwrap_or_default().to_string();
    assert!(
        code == "REQUEST_TIMED_OUT" || code == "NOT_CONTROLLER",
        "{status} {v}"
    );
    assert!(status >= 500 || status == 307, "{status}");
    let (_, v) = tc.get_at(&leader, "/v1/topics/lonely").await;
    assert_eq!(
        v["error_code"], "UNKNOWN_TOPIC_OR_PARTITION",
        "not applied without a quorum: {v}"
    );

    tc.start(&others[0]);
    let alive = vec![leader.clone(), others[0].clone()];
    let new_leader = tc.agreed_leader(&alive, Duration::from_secs(30)).await;
    let ok = wait_for(Duration::from_secs(20), || async {
        let (s, v) = tc.create_topic("after-quorum", 2, 1).await;
        (s == 201).then_some(v)
    })
    .await;
    assert!(ok.is_some(), "writes work again with a quorum");
    // The timed-out create is either fully there (it may commit later) or absent.
    let (s, v) = tc.get_at(&new_leader, "/v1/topics/lonely").await;
    if s == 200 {
        assert_eq!(
            v["partitions"].as_array().unwrap().len(),
            4,
            "never half-applied: {v}"
        );
    } else {
        assert_eq!(v["error_code"], "UNKNOWN_TOPIC_OR_PARTITION");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_broker_stand_ins_should_register_unfence_receive_ordered_deltas_fence_on_timeout_and_resync_after_gap(
) {
    // A small delta ring, so that a broker starting from nothing is behind it.
    let mut settings = FAST.to_vec();
    settings.push(("delta_ring_entries", "3"));
    let tc = start_cluster(3, &settings).await;
    let mut b = brokers(&tc, 3).await;
    let leader = tc
        .agreed_leader(&tc.controller_names(), Duration::from_secs(20))
        .await;
    let (s, v) = tc.create_topic("moving", 3, 2).await;
    assert_eq!(s, 201, "{v}");

    assert!(converged(&tc, &leader, &b).await, "stand-ins got the topic");
    for s in &b {
        let offs = s.applied_offsets();
        assert!(
            offs.windows(2).all(|w| w[0] < w[1]),
            "deltas applied in order: {offs:?}"
        );
    }

    // Crash broker 1: after the session timeout it is fenced and loses leadership.
    let (_, before) = tc.get_at(&leader, "/v1/topics/moving").await;
    let victim = b.iter().position(|x| x.id.0 == 1).unwrap();
    b[victim].crash();
    let crashed = b.remove(victim);
    let fenced = wait_for(Duration::from_secs(15), || async {
        let (_, v) = tc.get_at(&leader, "/v1/brokers").await;
        v["brokers"]
            .as_array()?
            .iter()
            .any(|x| x["id"] == 1 && x["fenced"] == true)
            .then_some(())
    })
    .await;
    assert!(
        fenced.is_some(),
        "broker 1 fenced after its session timeout"
    );
    let (_, after) = tc.get_at(&leader, "/v1/topics/moving").await;
    for (p, q) in before["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["partitions"].as_array().unwrap())
    {
        if p["leader"] == 1 {
            assert_ne!(q["leader"], 1, "leadership moved: {q}");
            assert!(!q["leader"].is_null(), "a new leader from the ISR: {q}");
            assert_eq!(
                q["leader_epoch"].as_u64().unwrap(),
                p["leader_epoch"].as_u64().unwrap() + 1
            );
        }
        assert!(
            !q["isr"].as_array().unwrap().contains(&json!(1)),
            "fenced broker left the ISR: {q}"
        );
    }
    assert!(
        converged(&tc, &leader, &b).await,
        "survivors saw the leadership change"
    );
    drop(crashed);

    // A restarted broker that starts from an empty image sees a gap and resyncs.
    let urls: Vec<String> = tc.controller_names().iter().map(|c| tc.url(c)).collect();
    let back = BrokerStandIn::start(
        urls,
        tc.cluster_key(),
        Some(ferry_common::BrokerId(1)),
        false,
    )
    .await;
    let resynced = wait_for(Duration::from_secs(15), || async {
        (back
            .state
            .snapshots
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
            && back.image().topics.len() == 1)
            .then_some(())
    })
    .await;
    assert!(resynced.is_some(), "gap detected and snapshot pulled");
    assert!(back.state.gaps.load(std::sync::atomic::Ordering::SeqCst) > 0);
    let unfenced = wait_for(Duration::from_secs(15), || async {
        let (_, v) = tc.get_at(&leader, "/v1/brokers").await;
        v["brokers"]
            .as_array()?
            .iter()
            .any(|x| x["id"] == 1 && x["fenced"] == false)
            .then_some(())
    })
    .await;
    assert!(unfenced.is_some(), "caught-up broker is unfenced again");

    // Stale epochs are refused.
    let (_, v) = tc
        .post_as(
            NodeIdentity::Broker(1),
            &leader,
            "/internal/v1/brokers/1/heartbeat",
            &json!({"broker_epoch": 1, "metadata_offset": 0}),
        )
        .await;
    assert_eq!(v["error_code"], "STALE_BROKER_EPOCH", "{v}");
}
