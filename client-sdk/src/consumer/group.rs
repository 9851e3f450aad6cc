//! The consumer as a group member: subscribe, apply the coordinator's
//! answers (revoke, then take new partitions), and fenced commits.
//!
//! Revocation commits the positions of the revoked partitions (everything
//! returned by earlier polls) before the consumer stops fetching them and
//! tells the coordinator it let go; only then does the coordinator give them
//! to their next owner, which starts at that commit.

use super::Consumer;
use crate::error::FerryError;
use crate::group_member::{heartbeat, Gone, Heartbeats, Member};
use crate::http;
use ferry_common::groups::{JoinGroupRequest, MemberAssignment, TopicPartition};
use ferry_common::records::{GroupOffsetsResponse, OffsetCommit, OffsetCommitRequest};
use ferry_common::ErrorCode;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The consumer's membership.
pub(super) struct GroupState {
    member: Member,
    generation: u32,
    /// The member epoch commits carry.
    member_epoch: u32,
}

fn tp(k: &(String, u32)) -> TopicPartition {
    TopicPartition {
        topic: k.0.clone(),
        partition: k.1,
    }
}

impl Consumer {
    /// Joins `group` for `topics`; partitions come from the coordinator and
    /// start at the group's committed offsets. A background task heartbeats
    /// from now on (see `heartbeat_interval`, `max_poll_interval`).
    pub async fn subscribe(
        &mut self,
        group: &str,
        topics: &[&str],
        session_timeout: Duration,
    ) -> Result<(), FerryError> {
        let req = JoinGroupRequest {
            member_id: None,
            client_id: Some("ferry-client".into()),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            session_timeout_ms: Some(session_timeout.as_millis() as u64),
            assignor: None,
        };
        let broker = self.broker()?.to_string();
        let url = format!("{broker}/v1/groups/{group}/members");
        let a: MemberAssignment =
            http::retry(|| http::call(&self.http, reqwest::Method::POST, &url, Some(&req))).await?;
        let hb = Heartbeats {
            http: http::client_with(session_timeout, self.credentials.as_ref()),
            broker,
            interval: self.heartbeat_interval.min(session_timeout / 3),
            max_poll_interval: self.max_poll_interval,
        };
        self.group = Some(GroupState {
            member: Member::start(&a, req.topics.clone(), session_timeout, hb),
            generation: a.generation,
            member_epoch: a.member_epoch,
        });
        self.positions.clear();
        self.apply_assignment(a).await
    }

    /// This member's partitions right now.
    pub fn assignment(&self) -> Vec<(String, u32)> {
        self.positions.keys().cloned().collect()
    }

    /// The member id, epoch and group epoch (generation), while in a group.
    pub fn membership(&self) -> Option<(String, u32, u32)> {
        let g = self.group.as_ref()?;
        Some((g.member.member_id.clone(), g.member_epoch, g.generation))
    }

    /// The group's committed offsets.
    pub async fn committed(&self, group: &str) -> Result<GroupOffsetsResponse, FerryError> {
        let url = format!("{}/v1/groups/{group}/offsets", self.broker()?);
        http::retry(|| http::call::<(), _>(&self.http, reqwest::Method::GET, &url, None)).await
    }

    fn positions_to_commit(&self) -> Vec<OffsetCommit> {
        self.positions
            .iter()
            .filter_map(|((t, p), o)| {
                o.map(|offset| OffsetCommit {
                    topic: t.clone(),
                    partition: *p,
                    offset,
                    metadata: None,
                })
            })
            .collect()
    }

    fn commit_request(
        &self,
        offsets: Vec<OffsetCommit>,
    ) -> Result<(String, OffsetCommitRequest), FerryError> {
        let Some(g) = &self.group else {
            return Err(FerryError::Config("commit needs subscribe(group)".into()));
        };
        let url = format!("{}/v1/groups/{}/offsets", self.broker()?, g.member.group);
        let req = OffsetCommitRequest {
            offsets,
            member_id: Some(g.member.member_id.clone()),
            member_epoch: Some(g.member_epoch),
        };
        Ok((url, req))
    }

    /// Commits in the background; the handle reports the outcome.
    pub fn commit_async(&self) -> tokio::task::JoinHandle<Result<(), FerryError>> {
        let offsets = self.positions_to_commit();
        let request = self.commit_request(offsets);
        let http = self.http.clone();
        tokio::spawn(async move {
            let (url, req) = request?;
            if req.offsets.is_empty() {
                return Ok(());
            }
            http::call::<_, GroupOffsetsResponse>(&http, reqwest::Method::POST, &url, Some(&req))
                .await
                .map(|_| ())
        })
    }

    /// Commits the current positions for the group (synchronously). Refused
    /// (`UNKNOWN_MEMBER_ID`) once the member has been fenced out of the group.
    pub async fn commit(&self) -> Result<(), FerryError> {
        self.commit_offsets(self.positions_to_commit()).await
    }

    /// Commits `offsets` as this member; on `STALE_MEMBER_EPOCH` it asks the
    /// coordinator for its current epoch and retries once with the
    /// partitions it still owns.
    async fn commit_offsets(&self, offsets: Vec<OffsetCommit>) -> Result<(), FerryError> {
        let (url, mut req) = self.commit_request(offsets)?;
        for attempt in 0..2 {
            if req.offsets.is_empty() {
                return Ok(());
            }
            let r = http::retry(|| {
                http::call::<_, GroupOffsetsResponse>(
                    &self.http,
                    reqwest::Method::POST,
                    &url,
                    Some(&req),
                )
            })
            .await;
            match r {
                Ok(_) => return Ok(()),
                Err(FerryError::Api {
                    code: ErrorCode::StaleMemberEpoch,
                    ..
                }) if attempt == 0 => {
                    let Some(g) = &self.group else { break };
                    let (owned, epoch) = {
                        let s = g.member.lock();
                        (s.owned.clone(), s.epoch)
                    };
                    let hb = g.member.heartbeat_url(self.broker()?);
                    let a = heartbeat(&self.http, &hb, owned, epoch).await?;
                    let mine: BTreeSet<&TopicPartition> =
                        a.assignment.iter().chain(&a.pending_revocation).collect();
                    req.member_epoch = Some(a.member_epoch);
                    req.offsets.retain(|o| {
                        mine.contains(&TopicPartition {
                            topic: o.topic.clone(),
                            partition: o.partition,
                        })
                    });
                    g.member.lock().latest = Some(a);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Commits (with auto commit on) and leaves the group at once, so the
    /// others take over without waiting for a timeout.
    pub async fn close(mut self) -> Result<(), FerryError> {
        if self.group.is_some() && self.auto_commit_interval.is_some() {
            if let Err(e) = self.commit().await {
                tracing::warn!(error = %e, "commit on close failed");
            }
        }
        if let Some(g) = self.group.take() {
            let url = format!(
                "{}/v1/groups/{}/members/{}",
                self.broker()?,
                g.member.group,
                g.member.member_id
            );
            http::call::<(), serde_json::Value>(&self.http, reqwest::Method::DELETE, &url, None)
                .await?;
        }
        Ok(())
    }

    /// Applies what the heartbeat task learnt since the last poll; joins
    /// again if the member was fenced or left for a late poll.
    pub(super) async fn group_sync(&mut self) -> Result<(), FerryError> {
        let Some(g) = &self.group else { return Ok(()) };
        let (latest, gone) = {
            let mut s = g.member.lock();
            s.last_poll = Instant::now();
            (s.latest.take(), s.gone)
        };
        if let Some(why) = gone {
            let (group, topics, session) = (
                g.member.group.clone(),
                g.member.topics.clone(),
                g.member.session_timeout,
            );
            match why {
                Gone::Fenced => tracing::warn!(group, "no longer a member; joining again"),
                Gone::PollTimeout => tracing::warn!(group, "left after a late poll; joining again"),
            }
            self.group = None;
            let t: Vec<&str> = topics.iter().map(String::as_str).collect();
            return self.subscribe(&group, &t, session).await;
        }
        match latest {
            Some(a) => self.apply_assignment(a).await,
            None => Ok(()),
        }
    }

    /// Revokes what `a` no longer assigns (commit, stop fetching, report),
    /// then starts newly assigned partitions at their committed offsets.
    async fn apply_assignment(&mut self, a: MemberAssignment) -> Result<(), FerryError> {
        let Some(g) = self.group.as_mut() else {
            return Ok(());
        };
        g.generation = a.generation;
        g.member_epoch = a.member_epoch;
        let keep: BTreeSet<(String, u32)> = a
            .assignment
            .iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect();
        let revoked: Vec<(String, u32)> = self
            .positions
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            let offsets: Vec<OffsetCommit> = self
                .positions_to_commit()
                .into_iter()
                .filter(|o| revoked.contains(&(o.topic.clone(), o.partition)))
                .collect();
            if let Err(e) = self.commit_offsets(offsets).await {
                tracing::warn!(error = %e, "commit before revocation failed");
            }
            for k in &revoked {
                self.positions.remove(k);
                self.high_watermarks.remove(k);
            }
        }
        let new: Vec<(String, u32)> = keep
            .into_iter()
            .filter(|k| !self.positions.contains_key(k))
            .collect();
        if !new.is_empty() {
            let committed = self.committed(&a.group).await?;
            for k in new {
                let start = committed
                    .offsets
                    .iter()
                    .find(|o| o.topic == k.0 && o.partition == k.1)
                    .map(|o| o.offset);
                self.positions.insert(k, start);
            }
        }
        if let Some(g) = &self.group {
            let owned = self.positions.keys().map(tp).collect();
            g.member.set_owned(owned, a.member_epoch);
            if !revoked.is_empty() {
                g.member.wake.notify_one();
            }
        }
        Ok(())
    }
}
