//! The group coordinator's service: join, heartbeat, leave, commit checks,
//! describe, list; plus the tick loop (session expiry, the initial delay).
//! The decisions are [`Group`]'s; this drives it with the clock and metadata.
//! Every change of a group's stored state is appended (acks=all) to its
//! `__consumer_offsets` partition before it takes effect (see
//! [`super::records`]), so the next coordinator replays it after a failover.
//! Requests for a group this broker does not coordinate are relayed (see
//! [`super::routing`]); the relay calls are the `self.peers.*` ones.

use super::assignor::Assignor;
use super::membership::{CommitRefusal, Group, MemberView};
use super::offsets::GroupOffsets;
use super::records;
use super::routing::{check_group, relayed, CoordinatorRouter, Route};
use crate::error::BrokerError;
use crate::metadata::{topic_name, MetadataCache};
use crate::node::Node;
use crate::partition::Partition;
use crate::peer_client::PeerClient;
use ferry_common::groups::{
    GroupDescription, GroupListing, HeartbeatRequest, JoinGroupRequest, MemberAssignment,
    TopicPartition,
};
use ferry_common::records::{GroupOffsetsResponse, OffsetCommitRequest};
use ferry_common::TopicName;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Groups coordinated here, and what coordinating them needs.
pub struct GroupCoordinator {
    node: Arc<Node>,
    metadata: Arc<MetadataCache>,
    router: Arc<CoordinatorRouter>,
    offsets: Arc<GroupOffsets>,
    peers: Arc<PeerClient>,
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
    let MemberView {
        epoch,
        assignment,
        revoking,
    } = g.view(id).ok_or_else(|| unknown_member(group, id))?;
    Ok(MemberAssignment {
        group: group.to_string(),
        member_id: id.to_string(),
        generation: g.epoch,
        assignment,
        member_epoch: epoch,
        pending_revocation: revoking,
    })
}

/// A refused commit as our error.
fn refused(group: &str, req: &OffsetCommitRequest, r: CommitRefusal) -> BrokerError {
    let (group, member) = (group.to_string(), req.member_id.clone().unwrap_or_default());
    let epoch = req.member_epoch.unwrap_or_default();
    match r {
        CommitRefusal::UnknownMember => BrokerError::UnknownMemberId { group, member },
        CommitRefusal::GroupHasMembers => BrokerError::GroupHasMembers { group },
        CommitRefusal::Fenced { current } => BrokerError::FencedMemberEpoch {
            group,
            member,
            epoch,
            current,
        },
        CommitRefusal::Stale { current } => BrokerError::StaleMemberEpoch {
            group,
            member,
            epoch,
            current,
        },
        CommitRefusal::NotOwned(tp) => BrokerError::PartitionNotOwned {
            group,
            member,
            topic: tp.topic,
            partition: tp.partition,
        },
    }
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
        }
    }

    /// The committed offsets of the groups coordinated here.
    pub fn offsets(&self) -> &Arc<GroupOffsets> {
        &self.offsets
    }

    /// Runs `f` on a copy of `group`'s state (None: no such group) on its
    /// coordinator partition `part`; appends the records the change implies
    /// under the group's state lock, and only then makes the copy the
    /// group's state. A change of liveness only (most heartbeats) writes
    /// nothing and takes effect at once, without waiting for the lock.
    /// A group left without members is deleted (tombstoned). `f` may run
    /// twice: once to see whether anything is to be stored, and again under
    /// the lock.
    async fn update<R>(
        &self,
        group: &str,
        part: &Arc<Partition>,
        mut f: impl FnMut(&mut Option<Group>, Instant) -> Result<R, BrokerError>,
    ) -> Result<R, BrokerError> {
        let quick = self
            .offsets
            .with_loaded(part, |l| {
                let before = l.members.get(group);
                let mut after = before.cloned();
                let out = match f(&mut after, Instant::now()) {
                    Ok(out) => out,
                    Err(e) => return Some(Err(e)),
                };
                let after = after.filter(|g| !g.members.is_empty());
                if !records::unchanged(before, after.as_ref()) {
                    return None;
                }
                if let Some(g) = after {
                    l.members.insert(group.to_string(), g);
                }
                Some(Ok(out))
            })
            .await?;
        if let Some(answer) = quick {
            return answer;
        }
        let _guard = self.offsets.lock_group_state(group).await;
        let before = self
            .offsets
            .with_loaded(part, |l| l.members.get(group).cloned())
            .await?;
        let mut after = before.clone();
        let out = f(&mut after, Instant::now())?;
        if after.as_ref().is_some_and(|g| g.members.is_empty()) {
            after = None;
        }
        let changes = records::changes(group, before.as_ref(), after.as_ref());
        self.offsets
            .apply_state(part, group, changes, after)
            .await?;
        Ok(out)
    }

    /// The group's coordinator partition if this broker coordinates it,
    /// else the coordinator's URL.
    async fn local(&self, group: &str) -> Result<Result<Arc<Partition>, String>, BrokerError> {
        Ok(match self.router.route(group).await? {
            Route::Local(part) => Ok(part),
            Route::Remote(url) => Err(url),
        })
    }

    fn initial_delay(&self) -> Duration {
        Duration::from_millis(self.node.config.group_initial_rebalance_delay_ms)
    }

    /// Loads the `__consumer_offsets` partitions led here that are not
    /// loaded yet, expires members and makes first assignments once their
    /// delay passed.
    pub async fn tick(&self, now: Instant) {
        for part in self.offsets.led_partitions() {
            if let Err(e) = self.offsets.with_loaded(&part, |_| ()).await {
                tracing::debug!(partition = part.partition, error = %e, "loading group state");
            }
        }
        // Only groups whose tick would change something take their lock.
        let due = self.offsets.with_led_members(|part, groups| {
            let names: Vec<String> = groups
                .iter()
                .filter(|(_, g)| Group::clone(g).tick(now, &partition_counts(&self.metadata, g)))
                .map(|(n, _)| n.clone())
                .collect();
            (part.clone(), names)
        });
        for (part, names) in due {
            for name in names {
                let ticked = self
                    .update(&name, &part, |g, now| {
                        let Some(g) = g else { return Ok(()) };
                        let (before, counts) = (g.members.len(), partition_counts(&self.metadata, g));
                        if g.tick(now, &counts) {
                            let expired = before - g.members.len();
                            tracing::info!(group = %name, generation = g.epoch, expired, "group assignment moved");
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = ticked {
                    tracing::warn!(group = %name, error = %e, "storing the group's state failed");
                }
            }
        }
    }

    pub fn list_local(&self) -> Vec<GroupListing> {
        self.offsets
            .with_led_members(|_, groups| {
                groups
                    .iter()
                    .map(|(n, g)| GroupListing {
                        group: n.clone(),
                        members: g.members.len(),
                        generation: g.epoch,
                    })
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect()
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
        let part = match self.local(group).await? {
            Ok(part) => part,
            Err(url) => {
                let relay = self.peers.join_group(&url, group, &req).await;
                return relay.map_err(relayed);
            }
        };
        let delay = self.initial_delay();
        self.update(group, &part, |g, now| {
            let g = g.get_or_insert_with(|| Group::new(assignor, now, delay));
            let id = match &req.member_id {
                Some(id) if !g.members.contains_key(id) => return Err(unknown_member(group, id)),
                Some(id) => id.clone(),
                None => format!(
                    "{}-{}",
                    req.client_id.as_deref().unwrap_or("member"),
                    uuid::Uuid::new_v4().simple()
                ),
            };
            // Counts for the new subscription too, before the member is in.
            let mut counts = partition_counts(&self.metadata, g);
            for t in &req.topics {
                if let Some(img) = TopicName::new(t.clone())
                    .ok()
                    .and_then(|n| self.metadata.topic(&n))
                {
                    counts.insert(t.clone(), img.partitions.len() as u32);
                }
            }
            let before = g.epoch;
            g.join(
                &id,
                req.client_id.clone(),
                req.topics.clone(),
                session,
                now,
                &counts,
            );
            if g.epoch != before {
                tracing::info!(group, member = %id, generation = g.epoch, "member joined");
            }
            view(group, &id, g)
        })
        .await
    }

    /// Keeps `member` alive and takes its report of what it still holds;
    /// answers its epoch, assignment and pending revocations.
    pub async fn heartbeat(
        &self,
        group: &str,
        member: &str,
        req: HeartbeatRequest,
    ) -> Result<MemberAssignment, BrokerError> {
        check_group(group)?;
        let part = match self.local(group).await? {
            Ok(part) => part,
            Err(url) => {
                let relay = self.peers.group_heartbeat(&url, group, member, &req).await;
                return relay.map_err(relayed);
            }
        };
        self.with_member(group, member, &part, |g, now, counts| {
            g.heartbeat(member, req.owned.as_deref(), req.member_epoch, now, counts)
                .then(|| view(group, member, g))
                .transpose()
        })
        .await?
        .ok_or_else(|| unknown_member(group, member))
    }

    /// Runs `f` (None: `member` was unknown) on `group` with the clock and
    /// partition counts; UNKNOWN_MEMBER_ID if there is no such group.
    async fn with_member<R>(
        &self,
        group: &str,
        member: &str,
        part: &Arc<Partition>,
        mut f: impl FnMut(&mut Group, Instant, &BTreeMap<String, u32>) -> Result<Option<R>, BrokerError>,
    ) -> Result<Option<R>, BrokerError> {
        self.update(group, part, |g, now| {
            let g = g.as_mut().ok_or_else(|| unknown_member(group, member))?;
            let counts = partition_counts(&self.metadata, g);
            f(g, now, &counts)
        })
        .await
    }

    /// Leaves `group` at once (a clean shutdown, after committing): the
    /// member's partitions go to the others without waiting for its session.
    pub async fn leave(&self, group: &str, member: &str) -> Result<(), BrokerError> {
        check_group(group)?;
        let part = match self.local(group).await? {
            Ok(part) => part,
            Err(url) => {
                let relay = self.peers.leave_group(&url, group, member).await;
                return relay.map_err(relayed);
            }
        };
        let generation = self
            .with_member(group, member, &part, |g, now, counts| {
                Ok(g.leave(member, now, counts).then_some(g.epoch))
            })
            .await?
            .ok_or_else(|| unknown_member(group, member))?;
        tracing::info!(group, member, generation, "member left");
        Ok(())
    }

    /// Commits offsets for `group`: a member's commit must carry its current
    /// epoch and name only partitions it owns; a standalone one (no member id)
    /// is accepted only while the group has no members.
    pub async fn commit(
        &self,
        group: &str,
        req: OffsetCommitRequest,
    ) -> Result<GroupOffsetsResponse, BrokerError> {
        self.offsets
            .commit(group, req, |req, g| check_commit(group, req, g))
            .await
    }
}

/// Whether `req` may commit, given `group`'s membership `g` (None: no members).
fn check_commit(
    group: &str,
    req: &OffsetCommitRequest,
    g: Option<&Group>,
) -> Result<(), BrokerError> {
    {
        let tps: Vec<TopicPartition> = req
            .offsets
            .iter()
            .map(|o| TopicPartition {
                topic: o.topic.clone(),
                partition: o.partition,
            })
            .collect();
        match g {
            Some(g) => g
                .check_commit(req.member_id.as_deref(), req.member_epoch, &tps)
                .map_err(|r| refused(group, req, r)),
            None => match &req.member_id {
                Some(m) => Err(unknown_member(group, m)),
                None => Ok(()),
            },
        }
    }
}

impl GroupCoordinator {
    /// Members, assignment and committed offsets (with lag) of `group`.
    pub async fn describe(&self, group: &str) -> Result<GroupDescription, BrokerError> {
        check_group(group)?;
        let part = match self.local(group).await? {
            Ok(part) => part,
            Err(url) => {
                return self
                    .peers
                    .describe_group(&url, group)
                    .await
                    .map_err(relayed)
            }
        };
        let offsets = self.offsets.fetch(group, None).await?.offsets;
        let now = Instant::now();
        let members = self
            .offsets
            .with_loaded(&part, |l| {
                l.members
                    .get(group)
                    .map(|g| (g.epoch, g.assignor, g.state(now), g.describe_members(now)))
            })
            .await?;
        let (generation, assignor, state, members) =
            members.unwrap_or((0, Assignor::Range, "Empty", Vec::new()));
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

    /// Ticks the groups every 250 ms.
    pub async fn expiry_loop(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => return,
            }
            self.tick(Instant::now()).await;
        }
    }
}
