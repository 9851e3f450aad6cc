//! The group coordinator's REST-facing logic: join, heartbeat, leave,
//! describe, list; plus the session-expiry loop. Requests for a group this
//! broker does not coordinate are relayed (see [`super::routing`]).

use super::membership::{Assignor, Group, Member};
use super::offsets::GroupOffsets;
use super::routing::{check_group, relayed, CoordinatorRouter, Route};
use crate::error::BrokerError;
use crate::metadata::{topic_name, MetadataCache};
use crate::node::Node;
use crate::peer_client::PeerClient;
use ferry_common::groups::{GroupDescription, GroupListing, JoinGroupRequest, MemberAssignment};
use ferry_common::TopicName;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Groups coordinated here, and what coordinating them needs.
pub struct GroupCoordinator {
    node: Arc<Node>,
    metadata: Arc<MetadataCache>,
    router: Arc<CoordinatorRouter>,
    offsets: Arc<GroupOffsets>,
    peers: Arc<PeerClient>,
    groups: Mutex<HashMap<String, Group>>,
}

fn unknown_member(group: &str, member: &str) -> BrokerError {
    BrokerError::UnknownMemberId {
        group: group.to_string(),
        member: member.to_string(),
    }
}

/// Partition counts of the topics members subscribe to, from metadata.
fn partition_counts(metadata: &MetadataCache, group: &Group) -> BTreeMap<String, u32> {
    let topics: std::collections::BTreeSet<&String> = group
        .members
        .values()
        .flat_map(|m| m.topics.iter())
        .collect();
    topics
        .into_iter()
        .filter_map(|t| {
            let name = TopicName::new(t.clone()).ok()?;
            metadata
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
    pub fn new(
        node: Arc<Node>,
        metadata: Arc<MetadataCache>,
        router: Arc<CoordinatorRouter>,
        offsets: Arc<GroupOffsets>,
        peers: Arc<PeerClient>,
    ) -> Self {
        GroupCoordinator {
            node,
            metadata,
            router,
            offsets,
            peers,
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// The committed offsets of the groups coordinated here.
    pub fn offsets(&self) -> &Arc<GroupOffsets> {
        &self.offsets
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Group>) -> R) -> R {
        f(&mut self.groups.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Removes expired members and rebalances their groups.
    pub fn expire(&self, now: Instant) {
        self.with(|groups| {
            for (name, g) in groups.iter_mut() {
                if g.expire(now) {
                    tracing::info!(group = %name, "member session expired; rebalancing");
                    let counts = partition_counts(&self.metadata, g);
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

    /// Joins (or rejoins) `group`; answers the member's id, generation and partitions.
    pub async fn join(
        &self,
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
            let name = topic_name(t)?;
            if self.metadata.topic(&name).is_none() {
                return Err(self.metadata.unknown(&name, 0));
            }
        }
        let assignor =
            Assignor::parse(req.assignor.as_deref()).map_err(BrokerError::InvalidRequest)?;
        let session = req
            .session_timeout_ms
            .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_millis);
        if !(Duration::from_millis(500)..=Duration::from_secs(300)).contains(&session) {
            return Err(BrokerError::InvalidRequest(
                "session_timeout_ms must be between 500 and 300000".into(),
            ));
        }
        if let Route::Remote(url) = self.router.route(group).await? {
            return self
                .peers
                .join_group(&url, group, &req)
                .await
                .map_err(relayed);
        }
        self.with(|groups| {
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
            let counts = partition_counts(&self.metadata, g);
            g.rebalance(&counts);
            tracing::info!(group, member = %id, generation = g.generation, "member joined; rebalanced");
        }
        view(group, &id, g)
    })
    }

    /// Runs `f` on `group` if it has `member`, else answers UNKNOWN_MEMBER_ID.
    fn with_member<R>(
        &self,
        group: &str,
        member: &str,
        f: impl FnOnce(&mut Group) -> Result<R, BrokerError>,
    ) -> Result<R, BrokerError> {
        self.with(|groups| {
            let g = groups
                .get_mut(group)
                .filter(|g| g.members.contains_key(member))
                .ok_or_else(|| unknown_member(group, member))?;
            f(g)
        })
    }

    /// Keeps `member` alive; answers its current generation and assignment.
    pub async fn heartbeat(
        &self,
        group: &str,
        member: &str,
    ) -> Result<MemberAssignment, BrokerError> {
        check_group(group)?;
        if let Route::Remote(url) = self.router.route(group).await? {
            let relay = self.peers.group_heartbeat(&url, group, member).await;
            return relay.map_err(relayed);
        }
        self.with_member(group, member, |g| {
            if let Some(m) = g.members.get_mut(member) {
                m.last_heartbeat = Instant::now();
            }
            view(group, member, g)
        })
    }

    /// Leaves `group` at once (a clean shutdown), rebalancing the others.
    pub async fn leave(&self, group: &str, member: &str) -> Result<(), BrokerError> {
        check_group(group)?;
        if let Route::Remote(url) = self.router.route(group).await? {
            let relay = self.peers.leave_group(&url, group, member).await;
            return relay.map_err(relayed);
        }
        self.with_member(group, member, |g| {
            g.members.remove(member);
            let counts = partition_counts(&self.metadata, g);
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
    pub async fn describe(&self, group: &str) -> Result<GroupDescription, BrokerError> {
        check_group(group)?;
        if let Route::Remote(url) = self.router.route(group).await? {
            return self
                .peers
                .describe_group(&url, group)
                .await
                .map_err(relayed);
        }
        let offsets = self.offsets.fetch(group, None).await?.offsets;
        let now = Instant::now();
        let members = self.with(|groups| {
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
    pub async fn list(&self) -> Vec<GroupListing> {
        let mut out = self.list_local();
        let me = self.node.id();
        let others: Vec<String> = self.metadata.read(|i| {
            i.brokers
                .values()
                .filter(|b| Some(b.id) != me && !b.fenced)
                .map(|b| b.url.clone())
                .collect()
        });
        for url in others {
            if let Ok(l) = self.peers.local_groups(&url).await {
                out.extend(l);
            }
        }
        out.sort_by(|a, b| a.group.cmp(&b.group));
        out
    }

    /// Expires member sessions every 250 ms.
    pub async fn expiry_loop(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => return,
            }
            self.expire(Instant::now());
        }
    }
}
