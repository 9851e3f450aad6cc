//! Assignors: how a group's target assignment deals partitions to members.
//! Pure functions of the subscriptions and partition counts.

use ferry_common::groups::TopicPartition;
use std::collections::BTreeMap;

/// How partitions are dealt to members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// Per topic, contiguous ranges to members in member-id order (Kafka's default).
    Range,
    /// All partitions of all topics dealt in turn.
    RoundRobin,
}

impl Assignor {
    pub fn parse(s: Option<&str>) -> Result<Assignor, String> {
        match s.unwrap_or("range") {
            "range" => Ok(Assignor::Range),
            "roundrobin" | "round-robin" => Ok(Assignor::RoundRobin),
            other => Err(format!(
                "unknown assignor '{other}'; use range or roundrobin"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }
}

/// Deals `partitions` (topic -> count) to the members subscribed to each
/// topic (`members`: member id -> subscribed topics).
pub fn assign(
    assignor: Assignor,
    members: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, u32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> =
        members.keys().map(|m| (m.clone(), Vec::new())).collect();
    match assignor {
        Assignor::Range => {
            for (topic, &count) in partitions {
                let subs: Vec<&String> = members
                    .iter()
                    .filter(|(_, topics)| topics.contains(topic))
                    .map(|(id, _)| id)
                    .collect();
                if subs.is_empty() {
                    continue;
                }
                let n = subs.len() as u32;
                let (per, extra) = (count / n, count % n);
                let mut next = 0;
                for (i, id) in subs.iter().enumerate() {
                    let take = per + u32::from((i as u32) < extra);
                    for p in next..next + take {
                        if let Some(v) = out.get_mut(*id) {
                            v.push(TopicPartition {
                                topic: topic.clone(),
                                partition: p,
                            });
                        }
                    }
                    next += take;
                }
            }
        }
        Assignor::RoundRobin => {
            let all: Vec<TopicPartition> = partitions
                .iter()
                .flat_map(|(t, &c)| {
                    (0..c).map(move |p| TopicPartition {
                        topic: t.clone(),
                        partition: p,
                    })
                })
                .collect();
            let ids: Vec<&String> = members.keys().collect();
            let mut turn = 0;
            for tp in all {
                // Next member (in turn) subscribed to this topic.
                for _ in 0..ids.len() {
                    let id = ids[turn % ids.len()];
                    turn += 1;
                    if members[id].contains(&tp.topic) {
                        if let Some(v) = out.get_mut(id) {
                            v.push(tp);
                        }
                        break;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str], topics: &[&str]) -> BTreeMap<String, Vec<String>> {
        ids.iter()
            .map(|id| {
                (
                    id.to_string(),
                    topics.iter().map(|t| t.to_string()).collect(),
                )
            })
            .collect()
    }

    fn parts(list: &[(&str, u32)]) -> BTreeMap<String, u32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn range_gives_contiguous_even_shares() {
        let a = assign(
            Assignor::Range,
            &members(&["a", "b", "c"], &["t"]),
            &parts(&[("t", 6)]),
        );
        let got: Vec<Vec<u32>> = a
            .values()
            .map(|v| v.iter().map(|tp| tp.partition).collect())
            .collect();
        assert_eq!(got, vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
        let a = assign(
            Assignor::Range,
            &members(&["a", "b"], &["t"]),
            &parts(&[("t", 5)]),
        );
        assert_eq!(a["a"].len(), 3);
        assert_eq!(a["b"].len(), 2);
    }

    #[test]
    fn round_robin_deals_in_turn_and_covers_everything_once() {
        let a = assign(
            Assignor::RoundRobin,
            &members(&["a", "b"], &["t", "u"]),
            &parts(&[("t", 3), ("u", 2)]),
        );
        let mut all: Vec<TopicPartition> = a.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5, "every partition exactly once");
        assert_eq!((a["a"].len(), a["b"].len()), (3, 2));
    }

    #[test]
    fn only_subscribers_get_a_topic() {
        let mut m = members(&["a"], &["t"]);
        m.extend(members(&["b"], &["u"]));
        let a = assign(Assignor::Range, &m, &parts(&[("t", 2), ("u", 2)]));
        assert!(a["a"].iter().all(|tp| tp.topic == "t"));
        assert!(a["b"].iter().all(|tp| tp.topic == "u"));
    }
}
