//! A consumer's group membership: the heartbeat task and what it shares with
//! the consumer.
//!
//! Liveness is kept apart from processing: the task heartbeats every
//! `heartbeat_interval` whatever the application does between polls, and
//! reports the partitions the consumer holds. The consumer applies the
//! answers on its next poll (revoking first: commit, stop fetching, then
//! wake the task so the release reaches the coordinator at once). If the
//! application does not poll for `max_poll_interval`, the task leaves the
//! group so a stuck consumer's partitions move on (Kafka's
//! `max.poll.interval.ms`); the next poll joins again.

use crate::error::FerryError;
use crate::http;
use ferry_common::groups::{HeartbeatRequest, MemberAssignment, TopicPartition};
use ferry_common::ErrorCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Why the member is no longer in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gone {
    /// The coordinator does not know it (session expired, or coordinator moved).
    Fenced,
    /// It left because the application did not poll in time.
    PollTimeout,
}

/// State the consumer and the heartbeat task share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The newest heartbeat answer the consumer has not applied yet.
    pub latest: Option<MemberAssignment>,
    /// What the consumer holds and the epoch it applied: reported together.
    pub owned: Vec<TopicPartition>,
    pub epoch: u32,
    pub last_poll: Instant,
    pub gone: Option<Gone>,
}

/// One membership: the member's id, its shared state, and its heartbeat task.
pub(crate) struct Member {
    pub group: String,
    pub topics: Vec<String>,
    pub member_id: String,
    pub session_timeout: Duration,
    pub shared: Arc<Mutex<Shared>>,
    pub wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where the task sends heartbeats, and how often.
pub(crate) struct Heartbeats {
    pub http: reqwest::Client,
    pub broker: String,
    pub interval: Duration,
    pub max_poll_interval: Duration,
}

impl Member {
    /// Starts heartbeating for `joined`.
    pub fn start(
        joined: &MemberAssignment,
        topics: Vec<String>,
        session_timeout: Duration,
        hb: Heartbeats,
    ) -> Member {
        let shared = Arc::new(Mutex::new(Shared {
            latest: None,
            owned: Vec::new(),
            epoch: 0,
            last_poll: Instant::now(),
            gone: None,
        }));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(heartbeat_loop(
            hb,
            joined.group.clone(),
            joined.member_id.clone(),
            shared.clone(),
            wake.clone(),
        ));
        Member {
            group: joined.group.clone(),
            topics,
            member_id: joined.member_id.clone(),
            session_timeout,
            shared,
            wake,
            task,
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what the consumer now holds at `epoch`.
    pub fn set_owned(&self, owned: Vec<TopicPartition>, epoch: u32) {
        let mut s = self.lock();
        s.owned = owned;
        s.epoch = epoch;
    }

    /// The heartbeat URL of this member.
    pub fn heartbeat_url(&self, broker: &str) -> String {
        heartbeat_url(broker, &self.group, &self.member_id)
    }
}

fn heartbeat_url(broker: &str, group: &str, member: &str) -> String {
    format!("{broker}/v1/groups/{group}/members/{member}/heartbeat")
}

/// One heartbeat reporting what the consumer holds.
pub(crate) async fn heartbeat(
    http: &reqwest::Client,
    url: &str,
    owned: Vec<TopicPartition>,
    epoch: u32,
) -> Result<MemberAssignment, FerryError> {
    let req = HeartbeatRequest {
        member_epoch: Some(epoch),
        owned: Some(owned),
    };
    http::call(http, reqwest::Method::POST, url, Some(&req)).await
}

async fn heartbeat_loop(
    hb: Heartbeats,
    group: String,
    member: String,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<Notify>,
) {
    let url = heartbeat_url(&hb.broker, &group, &member);
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(hb.interval) => {}
            _ = wake.notified() => {}
        }
        let (owned, epoch, last_poll) = {
            let s = lock();
            (s.owned.clone(), s.epoch, s.last_poll)
        };
        if last_poll.elapsed() > hb.max_poll_interval {
            tracing::warn!(
                group,
                member,
                "no poll within max_poll_interval; leaving the group"
            );
            let leave = format!("{}/v1/groups/{group}/members/{member}", hb.broker);
            let r = http::call::<(), serde_json::Value>(
                &hb.http,
                reqwest::Method::DELETE,
                &leave,
                None,
            )
            .await;
            if let Err(e) = r {
                tracing::warn!(group, member, error = %e, "leaving the group failed");
            }
            lock().gone = Some(Gone::PollTimeout);
            return;
        }
        match heartbeat(&hb.http, &url, owned, epoch).await {
            Ok(a) => lock().latest = Some(a),
            Err(FerryError::Api {
                code: ErrorCode::UnknownMemberId | ErrorCode::FencedMemberEpoch,
                ..
            }) => {
                tracing::warn!(
                    group,
                    member,
                    "fenced by the coordinator; the next poll joins again"
                );
                lock().gone = Some(Gone::Fenced);
                return;
            }
            Err(e) => tracing::debug!(group, member, error = %e, "heartbeat failed; retrying"),
        }
    }
}
