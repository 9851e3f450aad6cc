//! A cluster of local processes described by `DIR/cluster.json`.

use crate::process;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Controller,
    Broker,
}

impl NodeKind {
    /// The binary that runs this kind of node.
    pub fn binary(self) -> &'static str {
        match self {
            NodeKind::Controller => "ferry-controller",
            NodeKind::Broker => "ferry-broker",
        }
    }
}

/// One node of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub name: String,
    pub kind: NodeKind,
    pub id: u64,
    pub port: u16,
}

impl NodeSpec {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The persistent description of a local cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterLayout {
    pub dir: PathBuf,
    /// Where `ferry-controller` (and later `ferry-broker`) live.
    pub bin_dir: PathBuf,
    pub base_port: u16,
    pub nodes: Vec<NodeSpec>,
    /// Extra controller settings, `key = value` with dotted keys for sections
    /// (`raft.snapshot_every_entries`).
    #[serde(default)]
    pub controller_settings: Vec<(String, String)>,
    /// Extra broker settings, `key = value`.
    #[serde(default)]
    pub broker_settings: Vec<(String, String)>,
}

/// What to lay out.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub controllers: usize,
    pub brokers: usize,
    pub base_port: u16,
    pub bin_dir: PathBuf,
    pub controller_settings: Vec<(String, String)>,
    pub broker_settings: Vec<(String, String)>,
}

/// Observed state of a node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Running(i32),
    Paused(i32),
    Stopped,
}

/// A local cluster: its layout plus the child processes this instance started.
pub struct LocalCluster {
    layout: ClusterLayout,
    children: Mutex<HashMap<String, Child>>,
    client: reqwest::Client,
    kill_on_drop: bool,
}

const LAYOUT_FILE: &str = "cluster.json";

impl LocalCluster {
    /// Lays out a new cluster in `dir` (data is kept if the dir already has some).
    pub fn create(dir: &Path, spec: ClusterSpec) -> Result<Self> {
        let ClusterSpec {
            controllers,
            brokers,
            base_port,
            bin_dir,
            controller_settings,
            broker_settings,
        } = spec;
        if !matches!(controllers, 1 | 3 | 5 | 7) {
            bail!("--controllers must be 1, 3, 5 or 7 (a Raft quorum), got {controllers}");
        }
        if brokers > 99 {
            bail!("at most 99 brokers fit the port layout, got {brokers}");
        }
        if base_port as usize + 100 + 100 > u16::MAX as usize {
            bail!("--base-port {base_port} is too high");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let controller_nodes = (1..=controllers).map(|i| NodeSpec {
            name: format!("controller-{i}"),
            kind: NodeKind::Controller,
            id: i as u64,
            port: base_port + i as u16,
        });
        let broker_nodes = (1..=brokers).map(|i| NodeSpec {
            name: format!("broker-{i}"),
            kind: NodeKind::Broker,
            id: i as u64,
            port: base_port + 100 + i as u16,
        });
        let nodes = controller_nodes.chain(broker_nodes).collect();
        let layout = ClusterLayout {
            dir,
            bin_dir,
            base_port,
            nodes,
            controller_settings,
            broker_settings,
        };
        let cluster = LocalCluster::from_layout(layout);
        cluster.write_files()?;
        Ok(cluster)
    }

    /// Opens the cluster laid out in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(LAYOUT_FILE);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "no cluster in {} (run `ferry-local up` first)",
                dir.display()
            )
        })?;
        let layout: ClusterLayout = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing {}", path.display()))?;
        Ok(LocalCluster::from_layout(layout))
    }

    fn from_layout(layout: ClusterLayout) -> Self {
        let client = reqwest::Client::builder().build().unwrap_or_default();
        LocalCluster {
            layout,
            children: Mutex::new(HashMap::new()),
            client,
            kill_on_drop: false,
        }
    }

    /// Tests: SIGKILL every node this cluster knows when it is dropped.
    pub fn kill_on_drop(mut self) -> Self {
        self.kill_on_drop = true;
        self
    }

    pub fn layout(&self) -> &ClusterLayout {
        &self.layout
    }

    pub fn controllers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.layout
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Controller)
    }

    /// Controller URLs.
    pub fn controller_urls(&self) -> Vec<String> {
        self.controllers().map(NodeSpec::url).collect()
    }

    pub fn brokers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.layout
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Broker)
    }

    /// Broker URLs.
    pub fn broker_urls(&self) -> Vec<String> {
        self.brokers().map(NodeSpec::url).collect()
    }

    pub fn node(&self, name: &str) -> Result<&NodeSpec> {
        self.layout
            .nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.layout.nodes.iter().map(|n| n.name.as_str()).collect();
                anyhow!(
                    "no node named '{name}'; this cluster has {}",
                    names.join(", ")
                )
            })
    }

    fn node_dir(&self, name: &str) -> PathBuf {
        self.layout.dir.join(name)
    }
    fn pid_file(&self, name: &str) -> PathBuf {
        self.layout.dir.join(format!("{name}.pid"))
    }
    /// The node's log file.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.layout.dir.join(format!("{name}.log"))
    }
    fn config_file(&self, name: &str) -> PathBuf {
        self.layout.dir.join(format!("{name}.toml"))
    }

    fn write_files(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.layout)?;
        std::fs::write(self.layout.dir.join(LAYOUT_FILE), json)?;
        let voters: Vec<String> = self
            .controllers()
            .map(|c| format!("{}@{}", c.id, c.url()))
            .collect();
        for c in self.controllers() {
            let mut top = String::new();
            let mut raft = String::new();
            writeln!(top, "node_id = {}", c.id)?;
            writeln!(top, "listen_addr = \"127.0.0.1:{}\"", c.port)?;
            writeln!(top, "voters = \"{}\"", voters.join(","))?;
            writeln!(top, "data_dir = {:?}", self.node_dir(&c.name).join("data"))?;
            for (k, v) in &self.layout.controller_settings {
                match k.strip_prefix("raft.") {
                    Some(k) => writeln!(raft, "{k} = {v}")?,
                    None => writeln!(top, "{k} = {v}")?,
                }
            }
            let text = format!(
                "# Written by ferry-local; edits are overwritten by `up`.\n{top}\n[raft]\n{raft}"
            );
            std::fs::create_dir_all(self.node_dir(&c.name))?;
            std::fs::write(self.config_file(&c.name), text)?;
        }
        let controllers = self.controller_urls().join(",");
        for b in self.brokers() {
            let mut text =
                String::from("# Written by ferry-local; edits are overwritten by `up`.\n");
            writeln!(text, "broker_id = {}", b.id)?;
            writeln!(text, "listen_addr = \"127.0.0.1:{}\"", b.port)?;
            writeln!(text, "controllers = \"{controllers}\"")?;
            writeln!(text, "data_dir = {:?}", self.node_dir(&b.name).join("data"))?;
            for (k, v) in &self.layout.broker_settings {
                writeln!(text, "{k} = {v}")?;
            }
            std::fs::create_dir_all(self.node_dir(&b.name))?;
            std::fs::write(self.config_file(&b.name), text)?;
        }
        Ok(())
    }

    /// The node's process state.
    pub fn state(&self, name: &str) -> Result<NodeState> {
        let node = self.node(name)?;
        let Some(pid) = process::running_pid(&self.pid_file(name), node.kind.binary()) else {
            return Ok(NodeState::Stopped);
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let paused = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next()) == Some('T');
        Ok(if paused {
            NodeState::Paused(pid)
        } else {
            NodeState::Running(pid)
        })
    }

    /// Starts the node unless it already runs.
    pub fn start(&self, name: &str) -> Result<()> {
        let node = self.node(name)?.clone();
        if self.state(name)? != NodeState::Stopped {
            return Ok(());
        }
        self.reap(name);
        let bin = self.layout.bin_dir.join(node.kind.binary());
        if !bin.exists() {
            bail!(
                "{} not found; build it first (`cargo build --release`)",
                bin.display()
            );
        }
        let cfg = self.config_file(name);
        let cfg = cfg.to_string_lossy();
        let envs = vec![(
            "RUST_LOG".to_string(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,openraft=warn,sled=warn".into()),
        )];
        let child =
            process::spawn_detached(&bin, &["--config", &cfg], &envs, &self.log_file(name))?;
        std::fs::write(self.pid_file(name), child.id().to_string())?;
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), child);
        Ok(())
    }

    /// Waits until the node answers `/readyz`.
    pub async fn wait_ready(&self, name: &str, timeout: Duration) -> Result<()> {
        let url = format!("{}/readyz", self.node(name)?.url());
        if crate::http::wait_ready(&self.client, &url, timeout).await {
            Ok(())
        } else {
            bail!(
                "{name} was not ready within {timeout:?}; see {}",
                self.log_file(name).display()
            )
        }
    }

    /// Starts every node and waits until all are ready (controllers first:
    /// brokers register with them).
    pub async fn up(&self, timeout: Duration) -> Result<()> {
        for n in self.controllers() {
            self.start(&n.name)?;
        }
        for n in self.controllers() {
            self.wait_ready(&n.name, timeout).await?;
        }
        for n in self.brokers() {
            self.start(&n.name)?;
        }
        for n in self.brokers() {
            self.wait_ready(&n.name, timeout).await?;
        }
        Ok(())
    }

    /// SIGKILL, then wait until the process is gone.
    pub fn kill(&self, name: &str) -> Result<()> {
        self.signal_and_wait(name, libc::SIGKILL, Duration::from_secs(10))
    }

    /// SIGTERM (graceful), SIGKILL after 15 s.
    pub fn stop(&self, name: &str) -> Result<()> {
        if let NodeState::Paused(pid) = self.state(name)? {
            process::signal(pid, libc::SIGCONT)?;
        }
        if self
            .signal_and_wait(name, libc::SIGTERM, Duration::from_secs(15))
            .is_err()
        {
            self.kill(name)?;
        }
        Ok(())
    }

    fn signal_and_wait(&self, name: &str, sig: i32, timeout: Duration) -> Result<()> {
        let bin = self.node(name)?.kind.binary();
        let Some(pid) = process::running_pid(&self.pid_file(name), bin) else {
            return Ok(());
        };
        process::signal(pid, sig)?;
        if sig == libc::SIGKILL {
            // A stopped process still dies on SIGKILL; nothing else to do.
        }
        let gone = {
            let deadline = std::time::Instant::now() + timeout;
            loop {
                self.reap(name);
                if process::running_pid(&self.pid_file(name), bin).is_none() {
                    break true;
                }
                if std::time::Instant::now() > deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        if !gone {
            bail!("{name} (pid {pid}) did not exit within {timeout:?}");
        }
        let _ = std::fs::remove_file(self.pid_file(name));
        Ok(())
    }

    /// Collects the exit status of a child we started, so it leaves no zombie.
    fn reap(&self, name: &str) {
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(child) = children.get_mut(name) {
            if let Ok(Some(_)) = child.try_wait() {
                children.remove(name);
            }
        }
    }

    /// SIGSTOP.
    pub fn pause(&self, name: &str) -> Result<()> {
        match self.state(name)? {
            NodeState::Running(pid) => process::signal(pid, libc::SIGSTOP),
            NodeState::Paused(_) => Ok(()),
            NodeState::Stopped => bail!("{name} is not running"),
        }
    }

    /// SIGCONT.
    pub fn resume(&self, name: &str) -> Result<()> {
        match self.state(name)? {
            NodeState::Paused(pid) | NodeState::Running(pid) => process::signal(pid, libc::SIGCONT),
            NodeState::Stopped => bail!("{name} is not running"),
        }
    }

    /// Stops every node (SIGTERM, then SIGKILL).
    pub fn down(&self) -> Result<()> {
        for n in self.layout.nodes.iter().rev() {
            self.stop(&n.name)?;
        }
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.kill_on_drop {
            for n in &self.layout.nodes {
                let _ = self.kill(&n.name);
            }
        }
    }
}

/// Lays out a cluster on free ports in `dir`, starts every node and waits
/// until all are ready; every node is SIGKILLed when the cluster is dropped.
/// For tests: settings are `(key, value)` pairs as in [`ClusterSpec`].
pub async fn launch_for_tests(
    dir: &Path,
    controllers: usize,
    brokers: usize,
    bin_dir: &Path,
    controller_settings: &[(&str, &str)],
    broker_settings: &[(&str, &str)],
) -> Result<LocalCluster> {
    let own = |s: &[(&str, &str)]| {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let spec = ClusterSpec {
        controllers,
        brokers,
        base_port: free_base_port(controllers as u16, brokers as u16)?,
        bin_dir: bin_dir.to_path_buf(),
        controller_settings: own(controller_settings),
        broker_settings: own(broker_settings),
    };
    let cluster = LocalCluster::create(dir, spec)?.kill_on_drop();
    cluster.up(Duration::from_secs(60)).await?;
    Ok(cluster)
}

/// A base port whose controller (`base+1..`) and broker (`base+101..`) ports
/// are all free right now; for tests running side by side.
pub fn free_base_port(controllers: u16, brokers: u16) -> Result<u16> {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    for attempt in 0..200u64 {
        let base = 20_000
            + ((seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(attempt * 1442695040888963407)
                >> 33)
                % 400) as u16
                * 100;
        let ports = (1..=controllers)
            .map(|i| base + i)
            .chain((1..=brokers).map(|i| base + 100 + i));
        let all_free = ports
            .into_iter()
            .all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return Ok(base);
        }
    }
    bail!("no free port range found")
}
