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
//!
//! Group calls may go to any broker (each relays to the coordinator): they
//! go to one ([`Brokers`]) and move to the next when it cannot be reached,
//! so losing the broker a member talks to (say, the coordinator's) does
//! not cost it its session.

use crate::error::FerryError;
use crate::http;
use ferry_common::groups::{HeartbeatRequest, MemberAssignment, TopicPartition};
use ferry_common::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The brokers group calls go to: the current one, then the next.
#[derive(Debug)]
pub(crate) struct Brokers {
    list: Vec<String>,
    current: AtomicUsize,
}

impl Brokers {
    pub fn new(list: Vec<String>) -> Arc<Brokers> {
        Arc::new(Brokers {
            list,
            current: AtomicUsize::new(0),
        })
    }

    fn current(&self) -> (usize, Option<&String>) {
        let i = self.current.load(Ordering::Relaxed);
        (i, self.list.get(i % self.list.len().max(1)))
    }

    /// Calls `f` with the current broker's URL; when that broker cannot be
    /// reached (or went away mid-call), moves on to the next and tries again,
    /// each broker once.
    pub async fn call<T, F, Fut>(&self, mut f: F) -> Result<T, FerryError>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<T, FerryError>>,
    {
        let mut last = FerryError::Config("no broker URL configured".into());
        for _ in 0..self.list.len() {
            let (i, Some(url)) = self.current() else {
                break;
            };
            match f(url.clone()).await {
                Err(e @ (FerryError::Transport(_) | FerryError::OutcomeUnknown(_))) => {
                    // Only the first caller to see this broker fail moves on.
                    let _ = self.current.compare_exchange(
                        i,
                        i + 1,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    last = e;
                }
                r => return r,
            }
        }
        Err(last)
    }

    /// `method` on `path` with `body`, through [`Brokers::call`].
    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<&Req>,
    ) -> Result<Resp, FerryError> {
        self.call(|b| {
            let (url, method) = (format!("{b}{path}"), method.clone());
            async move { http::call(http, method, &url, body).await }
        })
        .await
    }
}

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
    /// When the coordinator last answered a heartbeat.
    pub last_heartbeat: Option<Instant>,
}

/// One membership: the member's id, its shared state, and its heartbeat task.
pub(crate) struct Member {
    pub group: String,
    pub brokers: Arc<Brokers>,
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
    pub brokers: Arc<Brokers>,
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
            last_heartbeat: None,
        }));
        let wake = Arc::new(Notify::new());
        let brokers = hb.brokers.clone();
        let task = tokio::spawn(heartbeat_loop(
            hb,
            joined.group.clone(),
            joined.member_id.clone(),
            shared.clone(),
            wake.clone(),
        ));
        Member {
            group: joined.group.clone(),
            brokers,
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

    /// The path of this member's heartbeat URL.
    pub fn heartbeat_path(&self) -> String {
        heartbeat_path(&self.group, &self.member_id)
    }
}

fn heartbeat_path(group: &str, member: &str) -> String {
    format!("/v1/groups/{group}/members/{member}/heartbeat")
}

/// One heartbeat reporting what the consumer holds.
pub(crate) async fn heartbeat(
    http: &reqwest::Client,
    brokers: &Brokers,
    path: &str,
    owned: Vec<TopicPartition>,
    epoch: u32,
) -> Result<MemberAssignment, FerryError> {
    let req = HeartbeatRequest {
        member_epoch: Some(epoch),
        owned: Some(owned),
    };
    brokers
        .request(http, reqwest::Method::POST, path, Some(&req))
        .await
}

async fn heartbeat_loop(
    hb: Heartbeats,
    group: String,
    member: String,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<Notify>,
) {
    let path = heartbeat_path(&group, &member);
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
            let leave = format!("/v1/groups/{group}/members/{member}");
            let r = hb
                .brokers
                .request::<(), serde_json::Value>(&hb.http, reqwest::Method::DELETE, &leave, None)
                .await;
            if let Err(e) = r {
                tracing::warn!(group, member, error = %e, "leaving the group failed");
            }
            lock().gone = Some(Gone::PollTimeout);
            return;
        }
        match heartbeat(&hb.http, &hb.brokers, &path, owned, epoch).await {
            Ok(a) => {
                let mut s = lock();
                s.latest = Some(a);
                s.last_heartbeat = Some(Instant::now());
            }
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
