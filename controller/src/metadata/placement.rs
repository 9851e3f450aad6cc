//! Replica placement for new topics and partitions (Kafka's `AdminUtils` algorithm).
//!
//! Round-robin with a shifting second replica, so that replicas and preferred
//! leaders spread evenly; rack-aware when every eligible broker has a rack. The
//! start index is deterministic (the broker leading the fewest partitions) because
//! placement runs inside the replicated state machine.

use ferry_common::BrokerId;
use std::collections::{BTreeMap, BTreeSet};

/// A broker that may receive replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: BrokerId,
    pub rack: Option<String>,
}

/// Why placement is impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementError(pub String);

/// Where to start and how many partitions already exist.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlacementStart {
    /// Index into the (sorted or rack-alternated) broker list of partition 0's leader.
    pub start_index: usize,
    /// Id of the first partition to place (non-zero when adding partitions).
    pub first_partition: u32,
}

/// Assigns `rf` replicas to each of `count` partitions; the first replica is the
/// preferred leader.
pub fn assign(
    brokers: &[Candidate],
    count: u32,
    rf: u16,
    start: PlacementStart,
) -> Result<Vec<Vec<BrokerId>>, PlacementError> {
    let rf = rf as usize;
    if rf == 0 {
        return Err(PlacementError(
            "replication factor must be at least 1".into(),
        ));
    }
    if rf > brokers.len() {
        return Err(PlacementError(format!(
            "replication factor {rf} is larger than the {} available (unfenced) brokers",
            brokers.len()
        )));
    }
    let rack_aware = brokers.iter().all(|b| b.rack.is_some());
    let arranged = if rack_aware {
        rack_alternated(brokers)
    } else {
        sorted(brokers)
    };
    let n = arranged.len();
    let racks: BTreeMap<BrokerId, &str> = arranged
        .iter()
        .map(|b| (b.id, b.rack.as_deref().unwrap_or("")))
        .collect();
    let num_racks = racks.values().collect::<BTreeSet<_>>().len();

    let mut shift = (start.first_partition as usize / n.max(1)) % n.max(1);
    let mut out = Vec::with_capacity(count as usize);
    for p in start.first_partition..start.first_partition + count {
        let p = p as usize;
        if p > 0 && p.is_multiple_of(n) && p != start.first_partition as usize {
            shift += 1;
        }
        let first = (p + start.start_index) % n;
        let leader = arranged[first].id;
        let mut replicas = vec![leader];
        if rack_aware {
            let mut used_racks = BTreeSet::from([racks[&leader]]);
            let mut k = 0;
            while replicas.len() < rf {
                let b = arranged[replica_index(first, shift * num_racks, k, n)].id;
                k += 1;
                let rack_ok = !used_racks.contains(racks[&b]) || used_racks.len() == num_racks;
                if rack_ok && !replicas.contains(&b) {
                    used_racks.insert(racks[&b]);
                    replicas.push(b);
                }
                if k > 4 * n * n {
                    // Unreachable with rf <= n; guards against an endless loop.
                    return Err(PlacementError(
                        "rack-aware placement did not converge".into(),
                    ));
                }
            }
        } else {
            for j in 0..rf - 1 {
                replicas.push(arranged[replica_index(first, shift, j, n)].id);
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

/// Kafka's `replicaIndex`: the j-th follower, skipping the leader's slot.
fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    if n == 1 {
        return first;
    }
    let s = 1 + (shift + j) % (n - 1);
    (first + s) % n
}

fn sorted(brokers: &[Candidate]) -> Vec<Candidate> {
    let mut v = brokers.to_vec();
    v.sort_by_key(|b| b.id);
    v
}

/// Brokers ordered so that consecutive ones sit on different racks:
/// racks a:[1,4], b:[2,5], c:[3] -> [1,2,3,4,5].
fn rack_alternated(brokers: &[Candidate]) -> Vec<Candidate> {
    let mut by_rack: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for b in brokers {
        by_rack
            .entry(b.rack.as_deref().unwrap_or(""))
            .or_default()
            .push(b);
    }
    for v in by_rack.values_mut() {
        v.sort_by_key(|b| b.id);
    }
    let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(brokers.len());
    for i in 0..longest {
        for v in by_rack.values() {
            if let Some(b) = v.get(i) {
                out.push((*b).clone());
            }
        }
    }
    out
}

/// The start index that balances preferred leaders: the position (in the order
/// `assign` uses) of the broker that currently is preferred leader of the fewest
/// partitions.
pub fn balanced_start(brokers: &[Candidate], leader_counts: &BTreeMap<BrokerId, usize>) -> usize {
    let rack_aware = brokers.iter().all(|b| b.rack.is_some());
    let arranged = if rack_aware {
        rack_alternated(brokers)
    } else {
        sorted(brokers)
    };
    arranged
        .iter()
        .enumerate()
        .min_by_key(|(i, b)| (leader_counts.get(&b.id).copied().unwrap_or(0), *i))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(ids: &[u32]) -> Vec<Candidate> {
        ids.iter()
            .map(|&i| Candidate {
                id: BrokerId(i),
                rack: None,
            })
            .collect()
    }

    fn ids(v: &[Vec<BrokerId>]) -> Vec<Vec<u32>> {
        v.iter().map(|r| r.iter().map(|b| b.0).collect()).collect()
    }

    #[test]
    fn source_document_example() {
        // brokers 1,2,3; 3 partitions; RF 2 -> [1,2], [2,3], [3,1]
        let a = assign(&brokers(&[1, 2, 3]), 3, 2, PlacementStart::default()).unwrap();
        assert_eq!(ids(&a), vec![vec![1, 2], vec![2, 3], vec![3, 1]]);
    }

    #[test]
    fn leaders_and_replicas_are_balanced() {
        let a = assign(&brokers(&[1, 2, 3, 4]), 12, 3, PlacementStart::default()).unwrap();
        let mut leaders = BTreeMap::new();
        let mut replicas = BTreeMap::new();
        for r in &a {
            *leaders.entry(r[0]).or_insert(0) += 1;
            for b in r {
                *replicas.entry(*b).or_insert(0) += 1;
            }
            let distinct: BTreeSet<_> = r.iter().collect();
            assert_eq!(distinct.len(), 3, "no broker twice in {r:?}");
        }
        assert!(leaders.values().all(|&c| c == 3), "{leaders:?}");
        assert!(replicas.values().all(|&c| c == 9), "{replicas:?}");
    }

    #[test]
    fn rf_larger_than_brokers_is_refused() {
        assert!(assign(&brokers(&[1, 2]), 1, 3, PlacementStart::default()).is_err());
        assert!(assign(&brokers(&[1, 2]), 1, 0, PlacementStart::default()).is_err());
    }

    #[test]
    fn rack_aware_spreads_each_partition_over_racks() {
        let b = vec![
            Candidate {
                id: BrokerId(1),
                rack: Some("a".into()),
            },
            Candidate {
                id: BrokerId(2),
                rack: Some("a".into()),
            },
            Candidate {
                id: BrokerId(3),
                rack: Some("b".into()),
            },
            Candidate {
                id: BrokerId(4),
                rack: Some("b".into()),
            },
            Candidate {
                id: BrokerId(5),
                rack: Some("c".into()),
            },
            Candidate {
                id: BrokerId(6),
                rack: Some("c".into()),
            },
        ];
        let rack = |id: BrokerId| b.iter().find(|c| c.id == id).unwrap().rack.clone();
        let a = assign(&b, 12, 3, PlacementStart::default()).unwrap();
        for r in &a {
            let racks: BTreeSet<_> = r.iter().map(|id| rack(*id)).collect();
            assert_eq!(racks.len(), 3, "{r:?} spans all racks");
        }
    }

    #[test]
    fn balanced_start_picks_least_loaded() {
        let counts = BTreeMap::from([(BrokerId(1), 2), (BrokerId(2), 0), (BrokerId(3), 1)]);
        assert_eq!(balanced_start(&brokers(&[1, 2, 3]), &counts), 1);
        assert_eq!(balanced_start(&brokers(&[1, 2, 3]), &BTreeMap::new()), 0);
    }

    #[test]
    fn adding_partitions_continues_the_pattern() {
        let all = assign(&brokers(&[1, 2, 3]), 6, 2, PlacementStart::default()).unwrap();
        let tail = assign(
            &brokers(&[1, 2, 3]),
            3,
            2,
            PlacementStart {
                start_index: 0,
                first_partition: 3,
            },
        )
        .unwrap();
        assert_eq!(ids(&all[3..]), ids(&tail));
    }
}
