//! Group state as records in `__consumer_offsets`, next to the offset
//! commits, laid out as KIP-848's coordinator stores it: one record per
//! group (its epoch, assignor and the partition counts its target was
//! computed from), and per member one for its subscription, one for its
//! target assignment and one for its current assignment (epoch, owned,
//! pending revocation). Keyed so that the latest record per key is the
//! state and an empty value (a tombstone) deletes the key; compaction keeps
//! the latest per key.
//!
//! All of it is pure: [`changes`] gives the records that take the stored
//! state from one [`Group`] to the next, and [`Replay`] folds records back
//! into groups. Session deadlines are not stored: a replayed member's
//! session starts when the new coordinator loads it, as in Kafka.

use super::assignor::Assignor;
use super::membership::{Group, Member};
use ferry_common::groups::TopicPartition;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// State keys start with this byte; offset-commit keys start with the
/// group id, which follows topic-name rules and so never does.
const STATE: u8 = 1;
const GROUP: u8 = b'G';
const MEMBER: u8 = b'M';
const TARGET: u8 = b'T';
const CURRENT: u8 = b'C';

/// Latest value per state key.
pub type StateRecords = BTreeMap<Vec<u8>, Vec<u8>>;

/// One record to append: key and value (None: a tombstone).
pub type StateRecord = (Vec<u8>, Option<Vec<u8>>);

#[derive(Debug, Serialize, Deserialize)]
struct GroupValue {
    epoch: u32,
    assignor: String,
    partitions: BTreeMap<String, u32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberValue {
    client_id: Option<String>,
    topics: Vec<String>,
    session_timeout_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct TargetValue {
    partitions: Vec<TopicPartition>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CurrentValue {
    epoch: u32,
    owned: Vec<TopicPartition>,
    revoking: Vec<TopicPartition>,
}

/// Whether `key` is a group-state key (not an offset commit).
pub fn is_state_key(key: &[u8]) -> bool {
    key.first() == Some(&STATE)
}

fn key(kind: u8, group: &str, member: Option<&str>) -> Vec<u8> {
    let mut k = vec![STATE, kind];
    k.extend_from_slice(group.as_bytes());
    if let Some(m) = member {
        k.push(0);
        k.extend_from_slice(m.as_bytes());
    }
    k
}

/// (kind, group, member) of a state key. Group ids hold no NUL, so the
/// first NUL ends the group and the member id is the rest, whatever it holds.
fn parse(key: &[u8]) -> Option<(u8, String, Option<String>)> {
    let (&STATE, rest) = key.split_first()? else {
        return None;
    };
    let (&kind, rest) = rest.split_first()?;
    let s = std::str::from_utf8(rest).ok()?;
    Some(match s.split_once('\0') {
        Some((g, m)) => (kind, g.to_string(), Some(m.to_string())),
        None => (kind, s.to_string(), None),
    })
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Plain structs of strings and numbers: serialising them cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Every record describing `g` (named `group`).
pub fn snapshot(group: &str, g: &Group) -> StateRecords {
    let mut out = StateRecords::new();
    let value = GroupValue {
        epoch: g.epoch,
        assignor: g.assignor.name().to_string(),
        partitions: g.partitions.clone(),
    };
    out.insert(key(GROUP, group, None), json(&value));
    for (id, m) in &g.members {
        let value = MemberValue {
            client_id: m.client_id.clone(),
            topics: m.topics.clone(),
            session_timeout_ms: m.session_timeout.as_millis() as u64,
        };
        out.insert(key(MEMBER, group, Some(id)), json(&value));
        let value = CurrentValue {
            epoch: m.epoch,
            owned: m.owned.iter().cloned().collect(),
            revoking: m.revoking.iter().cloned().collect(),
        };
        out.insert(key(CURRENT, group, Some(id)), json(&value));
    }
    for (id, tps) in &g.target {
        let value = TargetValue {
            partitions: tps.iter().cloned().collect(),
        };
        out.insert(key(TARGET, group, Some(id)), json(&value));
    }
    out
}

/// The records that take the stored state of `group` from `before` to
/// `after` (None: no group): changed or new values, and tombstones for
/// keys that went away. Nothing when only liveness (heartbeat times) changed.
pub fn changes(group: &str, before: Option<&Group>, after: Option<&Group>) -> Vec<StateRecord> {
    let old = before.map(|g| snapshot(group, g)).unwrap_or_default();
    let new = after.map(|g| snapshot(group, g)).unwrap_or_default();
    let mut out: Vec<StateRecord> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    out.extend(
        old.keys()
            .filter(|k| !new.contains_key(*k))
            .map(|k| (k.clone(), None)),
    );
    out
}

/// Whether `before` and `after` store the same records, i.e.
/// [`changes`] is empty, without building them: the check every heartbeat
/// makes, so it compares fields and allocates nothing.
pub fn unchanged(before: Option<&Group>, after: Option<&Group>) -> bool {
    let (a, b) = match (before, after) {
        (None, None) => return true,
        (Some(a), Some(b)) => (a, b),
        _ => return false,
    };
    let same_member = |(ia, ma): (&String, &Member), (ib, mb): (&String, &Member)| {
        ia == ib
            && ma.client_id == mb.client_id
            && ma.topics == mb.topics
            && ma.session_timeout.as_millis() == mb.session_timeout.as_millis()
            && ma.epoch == mb.epoch
            && ma.owned == mb.owned
            && ma.revoking == mb.revoking
    };
    a.epoch == b.epoch
        && a.assignor == b.assignor
        && a.partitions == b.partitions
        && a.target == b.target
        && a.members.len() == b.members.len()
        && a.members
            .iter()
            .zip(&b.members)
            .all(|(x, y)| same_member(x, y))
}

/// Folds state records, in log order, into the latest value per key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    latest: StateRecords,
}

impl Replay {
    /// Applies one record (`None`: a tombstone).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        match value {
            Some(v) if !v.is_empty() => {
                self.latest.insert(key.to_vec(), v.to_vec());
            }
            _ => {
                self.latest.remove(key);
            }
        }
    }

    /// The groups the records describe, loaded at `now`: every member gets a
    /// fresh session from `now`; a group that had no assignment yet waits
    /// `initial_delay` again. Records that do not parse are skipped, and a
    /// member needs its subscription record to exist.
    pub fn groups(&self, now: Instant, initial_delay: Duration) -> HashMap<String, Group> {
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut members: Vec<(String, String, MemberValue)> = Vec::new();
        let mut current: HashMap<(String, String), CurrentValue> = HashMap::new();
        let mut target: Vec<(String, String, TargetValue)> = Vec::new();
        for (k, v) in &self.latest {
            let Some((kind, group, member)) = parse(k) else {
                continue;
            };
            match (kind, member) {
                (GROUP, None) => {
                    let Ok(gv) = serde_json::from_slice::<GroupValue>(v) else {
                        continue;
                    };
                    let assignor = Assignor::parse(Some(&gv.assignor)).unwrap_or(Assignor::Range);
                    let mut g = Group::new(assignor, now, initial_delay);
                    if !gv.partitions.is_empty() {
                        g.assign_after = now;
                    }
                    g.epoch = gv.epoch;
                    g.partitions = gv.partitions;
                    groups.insert(group, g);
                }
                (MEMBER, Some(m)) => {
                    if let Ok(mv) = serde_json::from_slice(v) {
                        members.push((group, m, mv));
                    }
                }
                (CURRENT, Some(m)) => {
                    if let Ok(cv) = serde_json::from_slice(v) {
                        current.insert((group, m), cv);
                    }
                }
                (TARGET, Some(m)) => {
                    if let Ok(tv) = serde_json::from_slice(v) {
                        target.push((group, m, tv));
                    }
                }
                _ => {}
            }
        }
        for (group, id, mv) in members {
            let Some(g) = groups.get_mut(&group) else {
                continue;
            };
            let cv = current.remove(&(group, id.clone()));
            let (epoch, owned, revoking) = cv.map_or((0, Vec::new(), Vec::new()), |c| {
                (c.epoch, c.owned, c.revoking)
            });
            let owned: BTreeSet<TopicPartition> = owned.into_iter().collect();
            let revoking = revoking
                .into_iter()
                .filter(|tp| owned.contains(tp))
                .collect();
            g.members.insert(
                id,
                Member {
                    client_id: mv.client_id,
                    topics: mv.topics,
                    session_timeout: Duration::from_millis(mv.session_timeout_ms),
                    last_heartbeat: now,
                    epoch,
                    owned,
                    revoking,
                },
            );
        }
        for (group, id, tv) in target {
            if let Some(g) = groups.get_mut(&group) {
                g.target.insert(id, tv.partitions.into_iter().collect());
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests;
