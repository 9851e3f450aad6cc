//! The group coordinator's REST-facing logic: join, heartbeat, leave,
//! describe, list; plus the session-expiry loop. Requests for a group this
//! broker does not coordinate are forwarded (see `group_offsets::route`).

use super::broker::Broker;
use super::group_membership::{Assignor, Group, Member};
use super::group_offsets::{self, check_group, forward, Route};
use crate::error::BrokerError;
use ferry_common::groups::{GroupDescription, GroupListing, JoinGroupRequest, MemberAssignment};
use ferry_common::{ErrorCode, TopicName};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Groups coordinated here.
#[derive(Default)]
pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Group>>,
}

fn unknown_member(group: &str, member: &str) -> BrokerError {
    BrokerError::Relayed {
        code: ErrorCode::UnknownMemberId,
        message: format!("member '{member}' is not in group '{group}' (session expired?); join again without member_id"),
    }
}

/// Partition counts of the topics members subscribe to, from metadata.
fn partition_counts(broker: &Broker, group: &Group) -> BTreeMap<String, u32> {
    let topics: std::collections::BTreeSet<&String> = group
        .members
        .values()
        .flat_map(|m| m.topics.iter())
        .collect();
    topics
        .into_iter()
        .filter_map(|t| {
            let name = TopicName::new(t.clone()).ok()?;
            broker
                .metadata
                .topic(&name)
                .map(|img| (t.clone(), img.partitions.len() as u32))
        })
        .collect()
}

fn view(group: &str, id: &str, g: &Group) -> Result<MemberAssignment, BrokerError> {
    let m = g.members.get(id).ok_or_else(|| unknown_member(group, id))?;
    Ok(MemberAssignment {
        group: group.to_string(),
        member_id: id.to_string(),
        generation: g.generation,
        assignment: m.assignment.clone(),
    })
}

impl GroupCoordinator {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Group>) -> R) -> R {
        f(&mut self.groups.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Removes expired members and rebalances their groups.
    pub fn expire(&self, broker: &Broker, now: Instant) {
        self.with(|groups| {
            for (name, g) in groups.iter_mut() {
                if g.expire(now) {
                    tracing::info!(group = %name, "member session expired; rebalancing");
                    let counts = partition_counts(broker, g);
                    g.rebalance(&counts);
                }
            }
            groups.retain(|_, g| !g.members.is_empty());
        });
    }

    pub fn list_local(&self) -> Vec<GroupListing> {
        self.with(|groups| {
            groups
                .iter()
                .map(|(n, g)| GroupListing {
                    group: n.clone(),
                    members: g.members.len(),
                    generation: g.generation,
                })
                .collect()
        })
    }
}

/// Joins (or rejoins) `group`; answers the member's id, generation and partitions.
pub async fn join(
    broker: &Arc<Broker>,
    group: &str,
    req: JoinGroupRequest,
) -> Result<MemberAssignment, BrokerError> {
    check_group(group)?;
    if req.topics.is_empty() {
        return Err(BrokerError::InvalidRequest(
            "topics is empty; subscribe to at least one topic".into(),
        ));
    }
    for t in &req.topics {
        let name = Broker::topic_name(t)?;
        if broker.metadata.topic(&name).is_none() {
            return Err(broker.unknown(&name, 0));
        }
    }
    let assignor = Assignor::parse(req.assignor.as_deref()).map_err(BrokerError::InvalidRequest)?;
    let session = req
        .session_timeout_ms
        .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_millis);
    if !(Duration::from_millis(500)..=Duration::from_secs(300)).contains(&session) {
        return Err(BrokerError::InvalidRequest(
            "session_timeout_ms must be between 500 and 300000".into(),
        ));
    }
    if let Route::Remote(url) = group_offsets::route(broker, group).await? {
        return forward(
            broker,
            reqwest::Method::POST,
            &format!("{url}/v1/groups/{group}/members"),
            Some(&req),
        )
        .await;
    }
    broker.coordinator.with(|groups| {
        let g = groups.entry(group.to_string()).or_insert_with(|| Group::new(assignor));
        let id = match &req.member_id {
            Some(id) if !g.members.contains_key(id) => return Err(unknown_member(group, id)),
            Some(id) => id.clone(),
            None => format!("{}-{}", req.client_id.as_deref().unwrap_or("member"), uuid::Uuid::new_v4().simple()),
        };
        let changed = g.members.get(&id).is_none_or(|m| m.topics != req.topics);
        let member = g.members.entry(id.clone()).or_insert_with(|| Member {
            client_id: req.client_id.clone(),
            topics: req.topics.clone(),
            session_timeout: session,
            last_heartbeat: Instant::now(),
            assignment: Vec::new(),
        });
        member.topics = req.topics.clone();
        member.session_timeout = session;
        member.last_heartbeat = Instant::now();
        if changed {
            let counts = partition_counts(broker, g);
            g.rebalance(&counts);
            tracing::info!(group, member = %id, generation = g.generation, "member joined; rebalanced");
        }
        view(group, &id, g)
    })
}

/// Keeps `member` alive; answers its current generation and assignment.
pub async fn heartbeat(
    broker: &Arc<Broker>,
    group: &str,
    member: &str,
) -> Result<MemberAssignment, BrokerError> {
    check_group(group)?;
    if let Route::Remote(url) = group_offsets::route(broker, group).await? {
        return forward::<(), _>(
            broker,
            reqwest::Method::POST,
            &format!("{url}/v1/groups/{group}/members/{member}/heartbeat"),
            None,
        )
        .await;
    }
    broker.coordinator.with(|groups| {
        let g = groups
            .get_mut(group)
            .ok_or_else(|| unknown_member(group, member))?;
        let m = g
            .members
            .get_mut(member)
            .ok_or_else(|| unknown_member(group, member))?;
        m.last_heartbeat = Instant::now();
        view(group, member, g)
    })
}

/// Leaves `group` at once (a clean shutdown), rebalancing the others.
pub async fn leave(broker: &Arc<Broker>, group: &str, member: &str) -> Result<(), BrokerError> {
    check_group(group)?;
    if let Route::Remote(url) = group_offsets::route(broker, group).await? {
        return forward::<(), serde_json::Value>(
            broker,
            reqwest::Method::DELETE,
            &format!("{url}/v1/groups/{group}/members/{member}"),
            None,
        )
        .await
        .map(|_| ());
    }
    broker.coordinator.with(|groups| {
        let g = groups
            .get_mut(group)
            .ok_or_else(|| unknown_member(group, member))?;
        g.members
            .remove(member)
            .ok_or_else(|| unknown_member(group, member))?;
        let counts = partition_counts(broker, g);
        g.rebalance(&counts);
        tracing::info!(
            group,
            member,
            generation = g.generation,
            "member left; rebalanced"
        );
        Ok(())
    })
}

/// Members, assignment and committed offsets (with lag) of `group`.
pub async fn describe(broker: &Arc<Broker>, group: &str) -> Result<GroupDescription, BrokerError> {
    check_group(group)?;
    if let Route::Remote(url) = group_offsets::route(broker, group).await? {
        return forward::<(), _>(
            broker,
            reqwest::Method::GET,
            &format!("{url}/v1/groups/{group}"),
            None,
        )
        .await;
    }
    let offsets = group_offsets::fetch(broker, group, None).await?.offsets;
    let now = Instant::now();
    let members = broker.coordinator.with(|groups| {
        groups
            .get(group)
            .map(|g| (g.generation, g.assignor, g.describe_members(now)))
    });
    let (generation, assignor, members) = members.unwrap_or((0, Assignor::Range, Vec::new()));
    let state = if members.is_empty() {
        "Empty"
    } else {
        "Stable"
    };
    Ok(GroupDescription {
        group: group.to_string(),
        state: state.into(),
        generation,
        assignor: assignor.name().into(),
        members,
        offsets,
    })
}

/// Every group with members, asking every broker for the ones it coordinates.
pub async fn list(broker: &Arc<Broker>) -> Vec<GroupListing> {
    let mut out = broker.coordinator.list_local();
    let me = broker.id();
    let others: Vec<String> = broker.metadata.read(|i| {
        i.brokers
            .values()
            .filter(|b| Some(b.id) != me && !b.fenced)
            .map(|b| b.url.clone())
            .collect()
    });
    for url in others {
        let res: Result<Vec<GroupListing>, _> = broker
            .peers
            .forward::<(), _>(
                reqwest::Method::GET,
                &format!("{url}/internal/v1/groups"),
                None,
            )
            .await;
        if let Ok(l) = res {
            out.extend(l);
        }
    }
    out.sort_by(|a, b| a.group.cmp(&b.group));
    out
}

/// Expires member sessions every 250 ms.
pub async fn expiry_loop(broker: Arc<Broker>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.changed() => return,
        }
        broker.coordinator.expire(&broker, Instant::now());
    }
}
