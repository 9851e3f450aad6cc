//! State -> records -> replay gives the same state back; heartbeats that
//! change nothing write nothing; tombstones delete.

use super::*;

const SESSION: Duration = Duration::from_secs(10);
const DELAY: Duration = Duration::from_secs(3);

fn parts(n: u32) -> BTreeMap<String, u32> {
    BTreeMap::from([("t".to_string(), n)])
}

/// `g` as a coordinator that loaded it at `now` would hold it: fresh
/// sessions, and the initial delay again if nothing was assigned yet.
fn as_loaded(g: &Group, now: Instant) -> Group {
    let mut g = g.clone();
    for m in g.members.values_mut() {
        m.last_heartbeat = now;
    }
    g.assign_after = match g.partitions.is_empty() {
        true => now + DELAY,
        false => now,
    };
    g
}

/// Appends `changes(before -> after)` to `log` and checks a replay of the
/// whole log equals `after`.
fn step(log: &mut Replay, before: Option<&Group>, after: Option<&Group>, now: Instant) {
    let changes = changes("g", before, after);
    assert_eq!(unchanged(before, after), changes.is_empty());
    for (k, v) in changes {
        assert!(is_state_key(&k));
        log.apply(&k, v.as_deref());
    }
    let replayed = log.groups(now, DELAY);
    match after {
        Some(g) => assert_eq!(replayed.get("g"), Some(&as_loaded(g, now))),
        None => assert!(replayed.is_empty(), "a deleted group came back"),
    }
}

#[test]
fn a_group_replayed_from_its_records_equals_the_group() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::RoundRobin, t0, Duration::ZERO);
    for id in ["a", "b\0odd", "c"] {
        g.join(
            id,
            Some("cli".into()),
            vec!["t".into()],
            SESSION,
            t0,
            &parts(7),
        );
    }
    // Mid-reconciliation: some partitions pending revocation, some unowned.
    assert!(g.members.values().any(|m| !m.revoking.is_empty()));
    let mut log = Replay::default();
    step(&mut log, None, Some(&g), t0 + Duration::from_secs(60));
    let loaded = log.groups(t0 + Duration::from_secs(60), Duration::from_secs(3));
    assert_eq!(loaded["g"].assignor, Assignor::RoundRobin);
    assert_eq!(loaded["g"].members["b\0odd"].session_timeout, SESSION);
}

#[test]
fn every_step_of_a_groups_life_replays_to_its_state_and_a_deleted_group_stays_deleted() {
    let t0 = Instant::now();
    let mut log = Replay::default();
    let mut g = Group::new(Assignor::Range, t0, Duration::from_secs(3));
    let mut before: Option<Group> = None;
    let check = |log: &mut Replay, before: &mut Option<Group>, g: &Group, at: Instant| {
        step(log, before.as_ref(), Some(g), at);
        *before = Some(g.clone());
    };
    // Joined within the initial delay: no assignment yet, and a replay waits again.
    g.join("a", None, vec!["t".into()], SESSION, t0, &parts(6));
    check(&mut log, &mut before, &g, t0);
    let waiting = log.groups(t0, Duration::from_secs(3));
    assert_eq!(waiting["g"].state(t0), "Assigning");
    g.join("b", None, vec!["t".into()], SESSION, t0, &parts(6));
    check(&mut log, &mut before, &g, t0);
    let t1 = t0 + Duration::from_secs(3);
    assert!(g.tick(t1, &parts(6)));
    check(&mut log, &mut before, &g, t1);
    g.join("c", None, vec!["t".into()], SESSION, t1, &parts(6));
    check(&mut log, &mut before, &g, t1);
    for id in ["a", "b"] {
        let v = g.view(id).unwrap();
        g.heartbeat(id, Some(&v.assignment), Some(v.epoch), t1, &parts(6));
        check(&mut log, &mut before, &g, t1);
    }
    assert_eq!(g.state(t1), "Stable");
    assert!(g.leave("b", t1, &parts(6)));
    check(&mut log, &mut before, &g, t1);
    let loaded = log.groups(t1, Duration::ZERO);
    assert!(
        !loaded["g"].members.contains_key("b"),
        "a left member came back"
    );
    // The last members go: the group's records are all tombstoned.
    let t2 = t1 + SESSION;
    g.tick(t2, &parts(6));
    assert!(g.members.is_empty());
    step(&mut log, before.as_ref(), None, t2);
    assert_eq!(log, Replay::default(), "tombstones leave no key behind");
}

#[test]
fn a_heartbeat_that_changes_nothing_writes_nothing() {
    let t0 = Instant::now();
    let mut g = Group::new(Assignor::Range, t0, Duration::ZERO);
    g.join("a", None, vec!["t".into()], SESSION, t0, &parts(6));
    let before = g.clone();
    let v = g.view("a").unwrap();
    let later = t0 + Duration::from_secs(2);
    assert!(g.heartbeat("a", Some(&v.assignment), Some(v.epoch), later, &parts(6)));
    assert!(g.heartbeat("a", None, None, later, &parts(6)));
    assert!(!g.tick(later, &parts(6)));
    assert!(changes("g", Some(&before), Some(&g)).is_empty());
    assert!(unchanged(Some(&before), Some(&g)));
    // A rejoin with the same subscription changes nothing stored either.
    g.join("a", None, vec!["t".into()], SESSION, later, &parts(6));
    assert!(changes("g", Some(&before), Some(&g)).is_empty());
    assert!(unchanged(Some(&before), Some(&g)));
}

#[test]
fn offset_commit_keys_are_not_state_keys_and_bad_records_are_skipped() {
    assert!(!is_state_key(b"g\0t\x000"));
    let mut log = Replay::default();
    log.apply(&key(GROUP, "g", None), Some(b"not json"));
    log.apply(&key(MEMBER, "h", Some("m")), Some(b"{}"));
    log.apply(&[STATE], Some(b"{}"));
    assert!(log
        .groups(Instant::now(), Duration::ZERO)
        .values()
        .all(|g| g.members.is_empty()));
}
