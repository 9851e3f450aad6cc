//! The fault schedule: one fault at a time, chosen by the seeded RNG, aimed at
//! whatever the cluster looks like at that moment (the leader of a random
//! partition, a follower, the active controller), held, healed, then the
//! cluster is given up to [`SETTLE`] to get every ISR full again before the
//! next one. Faults are applied through the local-cluster runner (signals,
//! restarts), [`Net`] (isolation) and the segment files (torn tails).

use crate::net::Net;
use crate::rng::Rng;
use crate::view::{self, PartitionView};
use anyhow::{Context, Result};
use ferry_client::AdminClient;
use ferry_local_cluster::{LocalCluster, NodeState};
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the cluster gets to heal between faults.
const SETTLE: Duration = Duration::from_secs(60);
/// How long a restarted node gets to answer `/readyz`.
const READY: Duration = Duration::from_secs(60);

/// What can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    KillLeader,
    KillFollower,
    PauseLeader,
    PauseFollower,
    KillController,
    PauseController,
    Isolate,
    LeaderChurn,
    ClusterKill,
    TornTail,
}

impl Kind {
    const ALL: [Kind; 10] = [
        Kind::KillLeader,
        Kind::KillFollower,
        Kind::PauseLeader,
        Kind::PauseFollower,
        Kind::KillController,
        Kind::PauseController,
        Kind::Isolate,
        Kind::LeaderChurn,
        Kind::ClusterKill,
        Kind::TornTail,
    ];

    /// The kinds whose names are in `only` (all when empty); the error names them all.
    pub fn select(only: &[String]) -> Result<Vec<Kind>> {
        if let Some(bad) = only
            .iter()
            .find(|n| !Kind::ALL.iter().any(|k| k.name() == n.as_str()))
        {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            anyhow::bail!("unknown fault '{bad}'; faults are {}", names.join(", "));
        }
        Ok(Kind::ALL
            .into_iter()
            .filter(|k| only.is_empty() || only.iter().any(|n| n == k.name()))
            .collect())
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::KillLeader => "sigkill-leader",
            Kind::KillFollower => "sigkill-follower",
            Kind::PauseLeader => "sigstop-leader",
            Kind::PauseFollower => "sigstop-follower",
            Kind::KillController => "sigkill-controller",
            Kind::PauseController => "sigstop-controller",
            Kind::Isolate => "isolate-node",
            Kind::LeaderChurn => "preferred-leader-churn",
            Kind::ClusterKill => "cluster-sigkill",
            Kind::TornTail => "torn-tail",
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: Kind,
    pub target: String,
    /// Since the schedule started.
    pub at: Duration,
    pub held: Duration,
    pub note: String,
}

/// The fault injector and what it needs.
pub struct Nemesis<'a> {
    pub cluster: &'a LocalCluster,
    pub net: Option<&'a mut Net>,
    pub admin: AdminClient,
    pub http: reqwest::Client,
    pub topic: String,
    pub rng: Rng,
    /// The controller's broker session timeout: pauses and isolations outlast it.
    pub session: Duration,
    /// The kinds to choose from.
    pub kinds: Vec<Kind>,
}

impl Nemesis<'_> {
    /// Injects faults for `duration`; every fault is healed before this returns.
    pub async fn run(&mut self, duration: Duration) -> Result<Vec<Fault>> {
        let start = Instant::now();
        let mut faults = Vec::new();
        let kinds: Vec<Kind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| *k != Kind::Isolate || self.net.is_some())
            .collect();
        while start.elapsed() < duration {
            let kind = *self.rng.pick(&kinds).unwrap_or(&Kind::KillLeader);
            let at = start.elapsed();
            let began = Instant::now();
            let (target, note) = self.inject(kind).await?;
            let fault = Fault {
                kind,
                target,
                at,
                held: began.elapsed(),
                note,
            };
            println!(
                "[{:>6.1}s] {:<22} {:<13} {:>5.1}s  {}",
                fault.at.as_secs_f64(),
                kind.name(),
                fault.target,
                fault.held.as_secs_f64(),
                fault.note
            );
            faults.push(fault);
            if view::wait_healthy(&self.admin, &self.topic, SETTLE)
                .await
                .is_none()
            {
                println!(
                    "          (ISRs not full {}s after that fault; going on)",
                    SETTLE.as_secs()
                );
            }
            tokio::time::sleep(self.rng.millis(500, 2_500)).await;
        }
        Ok(faults)
    }

    /// Applies and heals one fault: `(target, note)`.
    async fn inject(&mut self, kind: Kind) -> Result<(String, String)> {
        let parts = view::partitions(&self.admin, &self.topic)
            .await
            .unwrap_or_default();
        let part = self.rng.pick(&parts).cloned();
        let brokers: Vec<String> = self.cluster.brokers().map(|b| b.name.clone()).collect();
        let any_broker = self.rng.pick(&brokers).cloned().unwrap_or_default();
        let leader = part
            .as_ref()
            .and_then(|p| p.leader)
            .map_or(any_broker.clone(), |id| format!("broker-{id}"));
        let follower = part
            .as_ref()
            .and_then(|p| self.follower_of(p))
            .unwrap_or(any_broker.clone());
        let controller = self.controller().await;
        let outlast = self.session + self.rng.millis(1_000, 3_000);
        match kind {
            Kind::KillLeader => self.kill(&leader, part.as_ref()).await,
            Kind::KillFollower => self.kill(&follower, part.as_ref()).await,
            Kind::KillController => self.kill(&controller, None).await,
            Kind::PauseLeader => self.pause(&leader, outlast).await,
            Kind::PauseFollower => self.pause(&follower, outlast).await,
            Kind::PauseController => self.pause(&controller, outlast).await,
            Kind::Isolate => {
                let name = if self.rng.below(3) == 0 {
                    controller
                } else {
                    any_broker
                };
                self.isolate(&name, outlast).await
            }
            Kind::LeaderChurn => self.churn(part.as_ref(), &any_broker).await,
            Kind::ClusterKill => self.cluster_kill().await,
            Kind::TornTail => self.torn_tail(&any_broker).await,
        }
    }

    fn follower_of(&mut self, p: &PartitionView) -> Option<String> {
        let others: Vec<u32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| Some(*r) != p.leader)
            .collect();
        self.rng.pick(&others).map(|id| format!("broker-{id}"))
    }

    async fn controller(&mut self) -> String {
        match view::active_controller(self.cluster, &self.http).await {
            Some(c) => c,
            None => {
                let names: Vec<String> =
                    self.cluster.controllers().map(|c| c.name.clone()).collect();
                self.rng.pick(&names).cloned().unwrap_or_default()
            }
        }
    }

    async fn restart(&self, name: &str) -> Result<()> {
        self.cluster.start(name)?;
        self.cluster.wait_ready(name, READY).await
    }

    async fn kill(&mut self, name: &str, part: Option<&PartitionView>) -> Result<(String, String)> {
        self.cluster.kill(name)?;
        let down = self.rng.millis(1_000, 6_000);
        tokio::time::sleep(down).await;
        self.restart(name).await?;
        let note = part.map_or(String::new(), |p| format!("partition {}", p.partition));
        Ok((
            name.to_string(),
            format!("{note} down {:.1}s", down.as_secs_f64()),
        ))
    }

    async fn pause(&mut self, name: &str, hold: Duration) -> Result<(String, String)> {
        self.cluster.pause(name)?;
        tokio::time::sleep(hold).await;
        self.cluster.resume(name)?;
        Ok((
            name.to_string(),
            format!("stopped {:.1}s", hold.as_secs_f64()),
        ))
    }

    async fn isolate(&mut self, name: &str, hold: Duration) -> Result<(String, String)> {
        let node = self.cluster.node(name)?.clone();
        let Some(net) = self.net.as_deref_mut() else {
            return Ok((name.to_string(), "isolation disabled".into()));
        };
        net.isolate(&node)?;
        // The isolation must hold: the node's port no longer answers us either.
        let probe = self
            .http
            .get(format!("{}/readyz", node.url()))
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        tokio::time::sleep(hold).await;
        net.heal()?;
        if probe.is_ok() {
            anyhow::bail!("{name} still answered while isolated: the iptables rules do not hold");
        }
        Ok((
            name.to_string(),
            format!("cut off {:.1}s", hold.as_secs_f64()),
        ))
    }

    /// Controlled shutdown of a partition's preferred leader and a restart;
    /// the controller's rebalancer then moves leadership back to it.
    async fn churn(
        &mut self,
        part: Option<&PartitionView>,
        fallback: &str,
    ) -> Result<(String, String)> {
        let preferred = part
            .and_then(|p| p.replicas.first())
            .map_or(fallback.to_string(), |id| format!("broker-{id}"));
        self.cluster.stop(&preferred)?;
        tokio::time::sleep(self.rng.millis(500, 2_000)).await;
        self.restart(&preferred).await?;
        let Some(p) = part else {
            return Ok((preferred, String::new()));
        };
        let start = Instant::now();
        let back = loop {
            let now = view::partitions(&self.admin, &self.topic)
                .await
                .unwrap_or_default();
            let leader = now
                .iter()
                .find(|q| q.partition == p.partition)
                .and_then(|q| q.leader);
            if leader == p.replicas.first().copied() {
                break format!(
                    "partition {} leadership back after {:.1}s",
                    p.partition,
                    start.elapsed().as_secs_f64()
                );
            }
            if start.elapsed() > Duration::from_secs(30) {
                break format!("partition {} leadership not back within 30s", p.partition);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        Ok((preferred, back))
    }

    async fn cluster_kill(&mut self) -> Result<(String, String)> {
        let names: Vec<String> = self
            .cluster
            .layout()
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect();
        for n in names.iter().rev() {
            self.cluster.kill(n)?;
        }
        let down = self.rng.millis(500, 2_000);
        tokio::time::sleep(down).await;
        self.cluster.up(READY).await?;
        Ok(("all".into(), format!("down {:.1}s", down.as_secs_f64())))
    }

    /// SIGKILL a broker, wait until the controller has taken it out of every
    /// ISR (so the records of its torn tail are on the others), tear the end
    /// of one partition's active segment, restart it.
    async fn torn_tail(&mut self, name: &str) -> Result<(String, String)> {
        let id: u32 = self.cluster.node(name)?.id as u32;
        self.cluster.kill(name)?;
        let start = Instant::now();
        let out_of_isr = loop {
            let parts = view::partitions(&self.admin, &self.topic).await;
            if parts.is_some_and(|ps| ps.iter().all(|p| !p.isr.contains(&id))) {
                break true;
            }
            if start.elapsed() > self.session * 3 + Duration::from_secs(10) {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let partitions = view::partitions(&self.admin, &self.topic)
            .await
            .map_or(1, |p| p.len().max(1));
        let p = self.rng.below(partitions as u64);
        let dir = self
            .cluster
            .data_dir(name)
            .join("logs")
            .join(format!("{}-{p}", self.topic));
        // Cutting into acknowledged data is only fair once the others own it;
        // garbage after the last batch always is.
        let note = tear(&dir, out_of_isr, &mut self.rng)?;
        self.restart(name).await?;
        Ok((name.to_string(), format!("partition {p}: {note}")))
    }
}

/// Appends garbage to, or (with `may_cut`) cuts a few bytes off, the end of
/// the last segment in `dir`: what a crash leaves when the page cache was
/// lost mid-write.
fn tear(dir: &Path, may_cut: bool, rng: &mut Rng) -> Result<String> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let Some(active) = logs.last() else {
        return Ok("no segment yet".into());
    };
    let len = std::fs::metadata(active)?.len();
    let file = std::fs::OpenOptions::new().append(true).open(active)?;
    let seg = active
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if may_cut && len > 0 && rng.below(2) == 0 {
        let cut = 1 + rng.below(len.min(40));
        file.set_len(len - cut)?;
        return Ok(format!("cut {cut} bytes off {seg}"));
    }
    let garbage: Vec<u8> = (0..1 + rng.below(64))
        .map(|_| rng.next_u64() as u8)
        .collect();
    (&file).write_all(&garbage)?;
    Ok(format!(
        "appended {} garbage bytes to {seg}{}",
        garbage.len(),
        if may_cut {
            ""
        } else {
            " (still in an ISR: no cut)"
        }
    ))
}

/// Ends every fault that may still be on (after an error or Ctrl-C): lets
/// packets through, resumes paused nodes, starts stopped ones.
pub async fn heal_all(cluster: &LocalCluster, net: Option<&mut Net>) -> Result<()> {
    if let Some(net) = net {
        net.heal()?;
    }
    for n in &cluster.layout().nodes {
        if let NodeState::Paused(_) = cluster.state(&n.name)? {
            cluster.resume(&n.name)?;
        }
    }
    cluster.up(READY).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_keeps_the_named_faults_and_refuses_unknown_names() {
        assert_eq!(Kind::select(&[]).unwrap().len(), Kind::ALL.len());
        let only = Kind::select(&["torn-tail".into(), "isolate-node".into()]).unwrap();
        assert_eq!(only, vec![Kind::Isolate, Kind::TornTail]);
        let err = Kind::select(&["sigkill-everything".into()]).unwrap_err();
        assert!(err.to_string().contains("torn-tail"), "{err}");
    }

    #[test]
    fn a_tear_appends_garbage_or_cuts_the_last_segment_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("00000000000000000000.log");
        let last = dir.path().join("00000000000000000100.log");
        std::fs::write(&first, [1u8; 100]).unwrap();
        std::fs::write(&last, [2u8; 100]).unwrap();
        let mut rng = Rng::new(3);
        for _ in 0..10 {
            tear(dir.path(), true, &mut rng).unwrap();
        }
        assert_eq!(std::fs::read(&first).unwrap(), vec![1u8; 100]);
        assert_ne!(std::fs::metadata(&last).unwrap().len(), 100);
        let before = std::fs::read(&last).unwrap();
        tear(dir.path(), false, &mut rng).unwrap();
        let after = std::fs::read(&last).unwrap();
        assert!(
            after.len() > before.len() && after.starts_with(&before),
            "without may_cut only appends"
        );
    }
}
