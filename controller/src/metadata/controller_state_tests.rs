use super::*;
use crate::metadata::commands::{ClientRef, Command, CommandRequest, Outcome};
use ferry_common::internal::PreviousShutdown;
use ferry_common::metadata::DeltaFit;

fn req(command: Command) -> CommandRequest {
    CommandRequest {
        client: None,
        command,
    }
}

fn topic(n: &str) -> TopicName {
    TopicName::new(n).unwrap()
}

/// A cluster id and `n` registered, unfenced brokers; returns the next offset.
fn cluster_with_brokers(state: &mut ControllerState, n: u32) -> u64 {
    let mut off = 1;
    state.apply(
        off,
        &req(Command::InitCluster {
            cluster_id: "c1".into(),
        }),
    );
    for _ in 0..n {
        off += 1;
        let reg = RegisterBrokerRequest {
            broker_id: None,
            url: format!("http://b{off}"),
            rack: None,
            incarnation_id: format!("inc-{off}"),
            cluster_id: None,
            previous_shutdown: Default::default(),
        };
        let a = state.apply(off, &req(Command::RegisterBroker(reg)));
        let Ok(Outcome::Broker {
            broker_id,
            broker_epoch,
            ..
        }) = a.result
        else {
            panic!("{a:?}")
        };
        off += 1;
        state.apply(
            off,
            &req(Command::UnfenceBroker {
                broker_id,
                epoch: broker_epoch,
            }),
        );
    }
    off + 1
}

fn create(name: &str, partitions: u32, rf: u16) -> Command {
    Command::CreateTopic {
        name: topic(name),
        topic_id: format!("id-{name}"),
        partitions,
        replication_factor: rf,
        configs: BTreeMap::new(),
        max_replicas_per_broker: None,
    }
}

#[test]
fn create_topic_matches_source_example() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 3);
    let a = s.apply(off, &req(create("demo-topic", 3, 2)));
    assert!(a.result.is_ok());
    let t = &s.image.topics[&topic("demo-topic")];
    let got: Vec<(Option<u32>, Vec<u32>)> = t
        .partitions
        .iter()
        .map(|p| (p.leader.map(|b| b.0), p.isr.iter().map(|b| b.0).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(1), vec![1, 2]),
            (Some(2), vec![2, 3]),
            (Some(3), vec![3, 1])
        ]
    );
    let delta = a.delta.unwrap();
    assert_eq!(delta.offset, off);
    assert_eq!(delta.records.len(), 4);
}

#[test]
fn duplicate_topic_and_bad_rf_are_rejected_without_records() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 2);
    s.apply(off, &req(create("t", 1, 1)));
    let dup = s.apply(off + 1, &req(create("t", 1, 1)));
    assert_eq!(dup.result.unwrap_err().code, ErrorCode::TopicAlreadyExists);
    assert!(dup.delta.is_none());
    let rf = s.apply(off + 2, &req(create("u", 1, 3)));
    assert_eq!(
        rf.result.unwrap_err().code,
        ErrorCode::InvalidReplicationFactor
    );
    let parts = s.apply(off + 3, &req(create("v", 0, 1)));
    assert_eq!(parts.result.unwrap_err().code, ErrorCode::InvalidPartitions);
    assert_eq!(s.image.offset, off + 3);
}

#[test]
fn retried_client_write_is_applied_once() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 1);
    let mut r = req(create("t", 1, 1));
    r.client = Some(ClientRef {
        id: "sdk-1".into(),
        seq: 7,
    });
    let first = s.apply(off, &r);
    let again = s.apply(off + 1, &r);
    assert_eq!(first.result, again.result);
    assert!(again.delta.is_none(), "the retry produced no records");
    assert!(first.result.is_ok());
}

#[test]
fn fencing_moves_leadership_and_unfencing_restores_leaderless() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 3);
    s.apply(off, &req(create("t", 3, 2)));
    let b1 = s.image.brokers[&BrokerId(1)].clone();
    let a = s.apply(
        off + 1,
        &req(Command::FenceBroker {
            broker_id: b1.id,
            epoch: b1.epoch,
        }),
    );
    assert!(a.delta.is_some());
    let t = &s.image.topics[&topic("t")];
    for p in &t.partitions {
        assert_ne!(p.leader, Some(BrokerId(1)), "{p:?}");
        assert!(!p.isr.contains(&BrokerId(1)), "{p:?}");
    }
    assert_eq!(t.partitions[0].leader, Some(BrokerId(2)));
    assert_eq!(t.partitions[0].leader_epoch, 1);
    // A stale-epoch fence is a no-op.
    let again = s.apply(
        off + 2,
        &req(Command::FenceBroker {
            broker_id: b1.id,
            epoch: b1.epoch - 1,
        }),
    );
    assert!(again.delta.is_none());
}

#[test]
fn registration_allocates_ids_and_retries_are_idempotent() {
    let mut s = ControllerState::default();
    s.apply(
        1,
        &req(Command::InitCluster {
            cluster_id: "c".into(),
        }),
    );
    let reg = RegisterBrokerRequest {
        broker_id: None,
        url: "http://x".into(),
        rack: None,
        incarnation_id: "i1".into(),
        cluster_id: Some("c".into()),
        previous_shutdown: Default::default(),
    };
    let a = s.apply(2, &req(Command::RegisterBroker(reg.clone())));
    let b = s.apply(3, &req(Command::RegisterBroker(reg.clone())));
    assert_eq!(a.result, b.result);
    let Ok(Outcome::Broker {
        broker_id,
        broker_epoch,
        ..
    }) = a.result
    else {
        panic!()
    };
    assert_eq!((broker_id, broker_epoch), (BrokerId(1), 2));
    assert!(s.image.brokers[&BrokerId(1)].fenced, "brokers start fenced");
    let wrong = RegisterBrokerRequest {
        cluster_id: Some("other".into()),
        incarnation_id: "i2".into(),
        ..reg
    };
    let c = s.apply(4, &req(Command::RegisterBroker(wrong)));
    assert_eq!(c.result.unwrap_err().code, ErrorCode::InconsistentClusterId);
}

#[test]
fn alter_partition_enforces_cas_and_epochs() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 3);
    s.apply(off, &req(create("t", 1, 3)));
    let epoch = |s: &ControllerState, id| s.image.brokers[&BrokerId(id)].epoch;
    let alter =
        |s: &ControllerState, leader_epoch, partition_epoch, isr: &[u32]| Command::AlterPartition {
            broker_id: BrokerId(1),
            broker_epoch: epoch(s, 1),
            topic: topic("t"),
            partition: 0,
            leader_epoch,
            partition_epoch,
            new_isr: isr.iter().map(|&b| BrokerId(b)).collect(),
        };
    let ok = s.apply(off + 1, &req(alter(&s, 0, 0, &[1, 2])));
    assert!(ok.result.is_ok());
    assert_eq!(
        s.image.topics[&topic("t")].partitions[0].isr,
        vec![BrokerId(1), BrokerId(2)]
    );
    let stale = s.apply(off + 2, &req(alter(&s, 0, 0, &[1])));
    assert_eq!(
        stale.result.unwrap_err().code,
        ErrorCode::InvalidUpdateVersion
    );
    let future = s.apply(off + 3, &req(alter(&s, 1, 1, &[1])));
    assert_eq!(
        future.result.unwrap_err().code,
        ErrorCode::UnknownLeaderEpoch
    );
    let outsider = s.apply(off + 4, &req(alter(&s, 0, 1, &[1, 9])));
    assert_eq!(
        outsider.result.unwrap_err().code,
        ErrorCode::IneligibleReplica
    );
    let mut bad_epoch = alter(&s, 0, 1, &[1]);
    if let Command::AlterPartition { broker_epoch, .. } = &mut bad_epoch {
        *broker_epoch += 100;
    }
    let e = s.apply(off + 5, &req(bad_epoch));
    assert_eq!(e.result.unwrap_err().code, ErrorCode::StaleBrokerEpoch);
}

#[test]
fn deltas_chain_through_prev_offset() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 1);
    let mut replica = s.image.clone();
    let a = s.apply(off, &req(create("a", 1, 1))).delta.unwrap();
    let _rejected = s.apply(off + 1, &req(create("a", 1, 1)));
    let b = s.apply(off + 2, &req(create("b", 1, 1))).delta.unwrap();
    assert_eq!(b.prev_offset, a.offset);
    assert_eq!(replica.apply_delta(&b), DeltaFit::Gap);
    assert_eq!(replica.apply_delta(&a), DeltaFit::Next);
    assert_eq!(replica.apply_delta(&b), DeltaFit::Next);
    assert_eq!(replica.topics, s.image.topics);
}

#[test]
fn add_partitions_grows_only() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 3);
    s.apply(off, &req(create("t", 2, 2)));
    let shrink = s.apply(
        off + 1,
        &req(Command::CreatePartitions {
            name: topic("t"),
            count: 2,
            max_replicas_per_broker: None,
        }),
    );
    assert_eq!(
        shrink.result.unwrap_err().code,
        ErrorCode::InvalidPartitions
    );
    let grow = s.apply(
        off + 2,
        &req(Command::CreatePartitions {
            name: topic("t"),
            count: 5,
            max_replicas_per_broker: None,
        }),
    );
    assert!(grow.result.is_ok());
    let t = &s.image.topics[&topic("t")];
    assert_eq!(t.partitions.len(), 5);
    assert!(t
        .partitions
        .iter()
        .enumerate()
        .all(|(i, p)| p.partition as usize == i && p.replicas.len() == 2));
}

fn limited(mut cmd: Command, limit: u32) -> Command {
    if let Command::CreateTopic {
        max_replicas_per_broker,
        ..
    } = &mut cmd
    {
        *max_replicas_per_broker = Some(limit);
    }
    cmd
}

#[test]
fn creates_and_growth_past_the_replica_bound_are_refused_and_change_nothing() {
    let mut s = ControllerState::default();
    let off = cluster_with_brokers(&mut s, 3);
    // 3 partitions x RF 3: three replicas on each of the three brokers.
    assert!(s
        .apply(off, &req(limited(create("a", 3, 3), 10)))
        .result
        .is_ok());
    // 8 more per broker would make 11 > 10.
    let big = s.apply(off + 1, &req(limited(create("b", 8, 3), 10)));
    let err = big.result.unwrap_err();
    assert_eq!(err.code, ErrorCode::PolicyViolation);
    assert!(err.message.contains("max_replicas_per_broker"), "{err:?}");
    assert!(!s.image.topics.contains_key(&topic("b")));
    // Exactly at the bound is fine.
    assert!(s
        .apply(off + 2, &req(limited(create("c", 7, 3), 10)))
        .result
        .is_ok());
    let grow = s.apply(
        off + 3,
        &req(Command::CreatePartitions {
            name: topic("a"),
            count: 4,
            max_replicas_per_broker: Some(10),
        }),
    );
    assert_eq!(grow.result.unwrap_err().code, ErrorCode::PolicyViolation);
    assert_eq!(s.image.topics[&topic("a")].partitions.len(), 3);
    // Commands from logs written before the bound existed carry none.
    assert!(s.apply(off + 4, &req(create("d", 1, 3))).result.is_ok());
}

/// RF 3, `min.insync.replicas = 2`, one partition on brokers 1, 2, 3 (led by 1).
fn min2_topic(s: &mut ControllerState, off: u64) {
    let cmd = Command::CreateTopic {
        name: topic("t"),
        topic_id: "id-t".into(),
        partitions: 1,
        replication_factor: 3,
        configs: BTreeMap::from([("min.insync.replicas".to_string(), "2".to_string())]),
        max_replicas_per_broker: None,
    };
    assert!(s.apply(off, &req(cmd)).result.is_ok());
}

fn fence(
    s: &mut ControllerState,
    off: u64,
    id: u32,
) -> Option<ferry_common::metadata::MetadataDelta> {
    let b = s.image.brokers[&BrokerId(id)].clone();
    s.apply(
        off,
        &req(Command::FenceBroker {
            broker_id: b.id,
            epoch: b.epoch,
        }),
    )
    .delta
}

/// Registers a new incarnation of `id` reporting `previous`, then unfences it.
fn restart(s: &mut ControllerState, off: u64, id: u32, previous: PreviousShutdown) {
    let reg = RegisterBrokerRequest {
        broker_id: Some(BrokerId(id)),
        url: format!("http://b{id}"),
        rack: None,
        incarnation_id: format!("again-{off}"),
        cluster_id: Some("c1".into()),
        previous_shutdown: previous,
    };
    let a = s.apply(off, &req(Command::RegisterBroker(reg)));
    let Ok(Outcome::Broker { broker_epoch, .. }) = a.result else {
        panic!("{a:?}")
    };
    s.apply(
        off + 1,
        &req(Command::UnfenceBroker {
            broker_id: BrokerId(id),
            epoch: broker_epoch,
        }),
    );
}

fn partition(s: &ControllerState) -> &PartitionState {
    &s.image.topics[&topic("t")].partitions[0]
}

fn ids(v: &[BrokerId]) -> Vec<u32> {
    v.iter().map(|b| b.0).collect()
}

#[test]
fn an_unclean_restart_of_the_last_isr_member_waits_for_the_elr_and_a_clean_one_does_not() {
    let mut s = ControllerState::default();
    let mut off = cluster_with_brokers(&mut s, 3);
    min2_topic(&mut s, off);
    // 3, then 2, then the leader 1 go down: ISR [1] (last member), ELR [2].
    for id in [3, 2, 1] {
        off += 1;
        fence(&mut s, off, id);
    }
    let p = partition(&s);
    assert_eq!(
        (p.leader, ids(&p.isr), ids(&p.elr)),
        (None, vec![1], vec![2])
    );
    let before = s.clone();
    // 1 comes back without its marker: it leaves the ISR and does not lead.
    off += 1;
    let epoch_1 = s.image.brokers[&BrokerId(1)].epoch;
    restart(&mut s, off, 1, PreviousShutdown::Unclean);
    let p = partition(&s);
    assert_eq!(
        (p.leader, ids(&p.isr), ids(&p.elr)),
        (None, vec![], vec![2])
    );
    assert_eq!(s.image.brokers[&BrokerId(1)].unclean_restarts, 1);
    // 2 shut down cleanly: it leads from the ELR.
    off += 2;
    let epoch_2 = s.image.brokers[&BrokerId(2)].epoch;
    restart(
        &mut s,
        off,
        2,
        PreviousShutdown::Clean {
            broker_epoch: epoch_2,
        },
    );
    let p = partition(&s);
    assert_eq!((p.leader, ids(&p.isr)), (Some(BrokerId(2)), vec![2]));
    assert_eq!(s.image.brokers[&BrokerId(2)].unclean_restarts, 0);

    // The same history with 1 restarting cleanly: it leads from its ISR seat.
    let mut clean = before.clone();
    restart(
        &mut clean,
        off,
        1,
        PreviousShutdown::Clean {
            broker_epoch: epoch_1,
        },
    );
    assert_eq!(partition(&clean).leader, Some(BrokerId(1)));
    // A marker from an older registration proves nothing.
    let mut stale = before.clone();
    restart(
        &mut stale,
        off,
        1,
        PreviousShutdown::Clean {
            broker_epoch: epoch_1 - 1,
        },
    );
    assert_eq!(partition(&stale).leader, None);
    assert_eq!(stale.image.brokers[&BrokerId(1)].unclean_restarts, 1);
    // Older brokers do not report: nothing changes from before this rule.
    let mut unknown = before;
    restart(&mut unknown, off, 1, PreviousShutdown::Unknown);
    assert_eq!(partition(&unknown).leader, Some(BrokerId(1)));
}

#[test]
fn an_unclean_restart_while_still_registered_fences_and_withdraws_in_one_change() {
    let mut s = ControllerState::default();
    let mut off = cluster_with_brokers(&mut s, 3);
    min2_topic(&mut s, off);
    off += 1;
    fence(&mut s, off, 3);
    // ISR [1, 2]; 2 crashes and re-registers before its session expires.
    off += 1;
    restart(&mut s, off, 2, PreviousShutdown::Unclean);
    let p = partition(&s);
    assert_eq!(
        (p.leader, ids(&p.isr), ids(&p.elr)),
        (Some(BrokerId(1)), vec![1], vec![])
    );
}

#[test]
fn elr_and_unclean_counts_reach_broker_images_through_deltas() {
    let mut s = ControllerState::default();
    let mut off = cluster_with_brokers(&mut s, 3);
    min2_topic(&mut s, off);
    let mut replica = s.image.clone();
    let push = |replica: &mut MetadataImage, s: &ControllerState, a: Applied| {
        if let Some(d) = a.delta {
            assert_eq!(replica.apply_delta(&d), DeltaFit::Next);
        }
        assert_eq!(replica.topics, s.image.topics);
        assert_eq!(replica.brokers, s.image.brokers);
    };
    for id in [3, 2] {
        off += 1;
        let b = s.image.brokers[&BrokerId(id)].clone();
        let a = s.apply(
            off,
            &req(Command::FenceBroker {
                broker_id: b.id,
                epoch: b.epoch,
            }),
        );
        push(&mut replica, &s, a);
    }
    assert_eq!(ids(&replica.topics[&topic("t")].partitions[0].elr), vec![2]);
    off += 1;
    let reg = RegisterBrokerRequest {
        broker_id: Some(BrokerId(2)),
        url: "http://b2".into(),
        rack: None,
        incarnation_id: "b2-again".into(),
        cluster_id: None,
        previous_shutdown: PreviousShutdown::Unclean,
    };
    let a = s.apply(off, &req(Command::RegisterBroker(reg)));
    push(&mut replica, &s, a);
    assert!(replica.topics[&topic("t")].partitions[0].elr.is_empty());
    assert_eq!(replica.brokers[&BrokerId(2)].unclean_restarts, 1);
}
