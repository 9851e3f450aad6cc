//! The membership state machine without sockets: initial delay, revoke before
//! assign, expiry, leave, and commit fencing.

use super::*;

const SESSION: Duration = Duration::from_secs(10);
const DELAY: Duration = Duration::from_secs(3);

fn parts(n: u32) -> BTreeMap<String, u32> {
    BTreeMap::from([("t".to_string(), n)])
}

fn tp(p: u32) -> TopicPartition {
    TopicPartition {
        topic: "t".into(),
        partition: p,
    }
}

fn join(g: &mut Group, id: &str, now: Instant) {
    g.join(id, None, vec!["t".into()], SESSION, now, &parts(6));
}

/// No partition is held by two members, ever.
fn assert_exclusive(g: &Group) {
    let mut seen = BTreeSet::new();
    for (id, m) in &g.members {
        for tp in &m.owned {
            assert!(
                seen.insert(tp.clone()),
                "{tp:?} owned twice (again by {id})"
            );
        }
        assert!(m.revoking.is_subset(&m.owned));
    }
}

/// `id` acknowledges every revocation (reports only what it keeps).
fn ack(g: &mut Group, id: &str, now: Instant) {
    let v = g.view(id).unwrap();
    assert!(g.heartbeat(id, Some(&v.assignment), Some(v.epoch), now, &parts(6)));
    assert_exclusive(g);
}

fn owned(g: &Group, id: &str) -> usize {
    g.members[id].owned.len()
}

#[test]
fn members_that_join_within_the_initial_delay_share_the_first_assignment() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::Range, t0, DELAY);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        join(&mut g, id, t0 + Duration::from_millis(100 * i as u64));
        assert!(g.members.values().all(|m| m.owned.is_empty()));
    }
    assert_eq!(g.state(t0 + Duration::from_secs(1)), "Assigning");
    assert!(!g.tick(t0 + Duration::from_secs(2), &parts(6)));
    assert!(g.tick(t0 + DELAY, &parts(6)));
    assert_exclusive(&g);
    for id in ["a", "b", "c"] {
        assert_eq!(owned(&g, id), 2, "{id}");
        assert_eq!(g.members[id].epoch, 1);
        assert!(g.members[id].revoking.is_empty());
    }
    assert_eq!(g.state(t0 + DELAY), "Stable");
}

#[test]
fn a_moved_partition_goes_to_its_new_owner_only_after_the_old_owner_releases_it() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::Range, t0, Duration::ZERO);
    join(&mut g, "a", t0);
    assert_eq!(owned(&g, "a"), 6);
    join(&mut g, "b", t0);
    assert_exclusive(&g);
    // a keeps owning the moved partitions until it says it let go.
    assert_eq!(owned(&g, "a"), 6);
    assert_eq!(g.view("a").unwrap().revoking, vec![tp(3), tp(4), tp(5)]);
    assert_eq!(owned(&g, "b"), 0);
    assert_eq!(g.state(t0), "Reconciling");
    // a commits its position for a revoking partition before letting go.
    let ea = g.members["a"].epoch;
    assert_eq!(g.check_commit(Some("a"), Some(ea), &[tp(4)]), Ok(()));
    // A heartbeat still holding them releases nothing.
    let all: Vec<TopicPartition> = (0..6).map(tp).collect();
    assert!(g.heartbeat("a", Some(&all), Some(ea), t0, &parts(6)));
    assert_eq!(owned(&g, "b"), 0);
    ack(&mut g, "a", t0);
    assert_eq!(g.view("a").unwrap().assignment, vec![tp(0), tp(1), tp(2)]);
    assert_eq!(g.view("b").unwrap().assignment, vec![tp(3), tp(4), tp(5)]);
    assert_eq!(g.members["a"].epoch, ea + 1);
    assert_eq!(g.state(t0), "Stable");
    // a's old epoch is stale now, and the moved partitions are b's.
    assert_eq!(
        g.check_commit(Some("a"), Some(ea), &[tp(0)]),
        Err(CommitRefusal::Stale { current: ea + 1 })
    );
    assert_eq!(
        g.check_commit(Some("a"), Some(ea + 1), &[tp(4)]),
        Err(CommitRefusal::NotOwned(tp(4)))
    );
}

#[test]
fn a_report_older_than_the_members_epoch_releases_nothing() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::Range, t0, Duration::ZERO);
    join(&mut g, "a", t0);
    join(&mut g, "b", t0);
    ack(&mut g, "a", t0);
    // b was given 3..6 (epoch bumped) but reports, from before it saw that,
    // an empty holding while c's arrival asks it to revoke one of them.
    let old = g.members["b"].epoch - 1;
    join(&mut g, "c", t0);
    assert!(!g.members["b"].revoking.is_empty());
    let revoking = g.members["b"].revoking.clone();
    assert!(g.heartbeat("b", Some(&[]), Some(old), t0, &parts(6)));
    assert_eq!(g.members["b"].revoking, revoking, "a stale report released");
    assert_exclusive(&g);
}

#[test]
fn a_member_that_never_releases_loses_its_partitions_when_its_session_expires() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::Range, t0, Duration::ZERO);
    join(&mut g, "a", t0);
    let later = t0 + Duration::from_secs(8);
    join(&mut g, "b", later);
    assert_eq!(owned(&g, "b"), 0);
    // b heartbeats; a is silent (paused).
    assert!(g.heartbeat("b", None, None, t0 + SESSION, &parts(6)));
    assert_eq!(owned(&g, "b"), 0, "a's session has not run out yet");
    assert!(g.tick(t0 + SESSION, &parts(6)));
    assert!(!g.members.contains_key("a"));
    assert_eq!(owned(&g, "b"), 6);
    assert_eq!(
        g.check_commit(Some("a"), Some(1), &[tp(0)]),
        Err(CommitRefusal::UnknownMember)
    );
    // A heartbeat from the expired member is refused; it must rejoin.
    assert!(!g.heartbeat("a", None, None, t0 + SESSION, &parts(6)));
}

#[test]
fn a_clean_leave_hands_the_leavers_partitions_over_at_once() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::Range, t0, DELAY);
    join(&mut g, "a", t0);
    join(&mut g, "b", t0);
    g.tick(t0 + DELAY, &parts(6));
    let epoch = g.epoch;
    assert!(g.leave("a", t0 + DELAY, &parts(6)));
    assert_eq!(g.epoch, epoch + 1);
    assert_eq!(owned(&g, "b"), 6);
    assert!(!g.leave("a", t0 + DELAY, &parts(6)));
}

#[test]
fn commits_are_fenced_by_membership_epoch_and_ownership() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::Range, t0, Duration::ZERO);
    assert_eq!(g.check_commit(None, None, &[tp(0)]), Ok(()), "empty group");
    join(&mut g, "a", t0);
    let e = g.members["a"].epoch;
    assert_eq!(
        g.check_commit(None, None, &[tp(0)]),
        Err(CommitRefusal::GroupHasMembers)
    );
    assert_eq!(
        g.check_commit(Some("a"), Some(e + 1), &[tp(0)]),
        Err(CommitRefusal::Fenced { current: e })
    );
    assert_eq!(g.check_commit(Some("a"), Some(e), &[tp(0), tp(5)]), Ok(()));
    assert_eq!(
        g.check_commit(Some("zz"), Some(e), &[tp(0)]),
        Err(CommitRefusal::UnknownMember)
    );
}

#[test]
fn under_any_order_of_joins_leaves_acks_and_expiries_no_partition_has_two_owners() {
    // A deterministic pseudo-random walk over the events.
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::RoundRobin, t0, Duration::from_millis(500));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let ids = ["a", "b", "c", "d", "e"];
    let mut now = t0;
    for _ in 0..2000 {
        now += Duration::from_millis(next() % 700);
        let id = ids[(next() % ids.len() as u64) as usize];
        match next() % 5 {
            0 => join(&mut g, id, now),
            1 => {
                g.leave(id, now, &parts(6));
            }
            2 | 3 if g.members.contains_key(id) => ack(&mut g, id, now),
            _ => {
                g.tick(now, &parts(6));
            }
        }
        assert_exclusive(&g);
    }
    // Once everyone acknowledges, the group converges on its target.
    for id in ids {
        join(&mut g, id, now);
    }
    for _ in 0..3 {
        for id in ids {
            ack(&mut g, id, now);
        }
    }
    assert_eq!(g.state(now), "Stable");
    let total: usize = g.members.values().map(|m| m.owned.len()).sum();
    assert_eq!(total, 6);
}
