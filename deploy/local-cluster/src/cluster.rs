//! A cluster of local processes described by `DIR/cluster.json`.

use crate::layout::{ClusterLayout, ClusterSpec, NodeKind, NodeSpec, NodeState};
use crate::{node_config, process};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

/// A local cluster: its layout plus the child processes this instance started.
pub struct LocalCluster {
    layout: ClusterLayout,
    children: Mutex<HashMap<String, Child>>,
    client: reqwest::Client,
    kill_on_drop: bool,
    /// Start each node in the cgroup `<dir>/<node name>` (see [`LocalCluster::with_cgroups`]).
    cgroup_root: Option<PathBuf>,
}

const LAYOUT_FILE: &str = "cluster.json";
/// The cluster secret every node signs internal calls with, made on first `up`.
pub const SECRET_FILE: &str = "cluster.secret";

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
            data_roots,
            tls,
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
            tls,
        });
        let broker_nodes = (1..=brokers).map(|i| NodeSpec {
            name: format!("broker-{i}"),
            kind: NodeKind::Broker,
            id: i as u64,
            port: base_port + 100 + i as u16,
            tls,
        });
        let nodes = controller_nodes.chain(broker_nodes).collect();
        let layout = ClusterLayout {
            dir,
            bin_dir,
            base_port,
            nodes,
            controller_settings,
            broker_settings,
            data_roots,
            tls,
        };
        if tls {
            crate::tls::ensure(&layout)?;
        }
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
        let client = crate::tls::probe_client(&layout);
        LocalCluster {
            layout,
            children: Mutex::new(HashMap::new()),
            client,
            kill_on_drop: false,
            cgroup_root: None,
        }
    }

    /// Tests: SIGKILL every node this cluster knows when it is dropped.
    pub fn kill_on_drop(mut self) -> Self {
        self.kill_on_drop = true;
        self
    }

    /// Starts every node inside its own existing cgroup `root/<node name>`
    /// (cgroup v2), so a fault injector can filter its packets by cgroup.
    pub fn with_cgroups(mut self, root: PathBuf) -> Self {
        self.cgroup_root = Some(root);
        self
    }

    /// The node's data directory (see [`Self::data_dir_of`]).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        match self.node(name) {
            Ok(node) => self.data_dir_of(node),
            Err(_) => self.node_dir(name).join("data"),
        }
    }

    /// The layout this cluster was created with.
    pub fn layout(&self) -> &ClusterLayout {
        &self.layout
    }

    /// The controllers, in id order.
    pub fn controllers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.layout.controllers()
    }

    /// Controller URLs.
    pub fn controller_urls(&self) -> Vec<String> {
        self.controllers().map(NodeSpec::url).collect()
    }

    /// The brokers, in id order.
    pub fn brokers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.layout.brokers()
    }

    /// Broker URLs.
    pub fn broker_urls(&self) -> Vec<String> {
        self.brokers().map(NodeSpec::url).collect()
    }

    /// The node called `name`; the error lists the names there are.
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
    /// `DIR/NAME/data`, or `ROOT/NAME` when the layout has a data root for
    /// the node's kind.
    pub fn data_dir_of(&self, node: &NodeSpec) -> PathBuf {
        let root = match node.kind {
            NodeKind::Controller => &self.layout.data_roots.controllers,
            NodeKind::Broker => &self.layout.data_roots.brokers,
        };
        match root {
            Some(root) => root.join(&node.name),
            None => self.node_dir(&node.name).join("data"),
        }
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

    /// The CA file clients must trust, when the cluster runs TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.layout
            .tls
            .then(|| crate::tls::ca_file(&self.layout.dir))
    }

    /// A client for probing the nodes (trusts the cluster's CA).
    pub fn probe_client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The file with the cluster secret the nodes share.
    pub fn secret_file(&self) -> PathBuf {
        self.layout.dir.join(SECRET_FILE)
    }

    /// Writes a random cluster secret unless the cluster has one: a cluster
    /// laid out again keeps its secret, so its data stays reachable.
    fn ensure_secret(&self) -> Result<()> {
        let path = self.secret_file();
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            writeln!(f, "{}", ferry_http::auth::random_secret())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    fn write_files(&self) -> Result<()> {
        self.ensure_secret()?;
        let json = serde_json::to_vec_pretty(&self.layout)?;
        std::fs::write(self.layout.dir.join(LAYOUT_FILE), json)?;
        for node in &self.layout.nodes {
            let text = node_config::render(&self.layout, node, &self.data_dir_of(node))?;
            std::fs::create_dir_all(self.node_dir(&node.name))?;
            std::fs::write(self.config_file(&node.name), text)?;
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
        // A node that cannot bind exits at once, but whatever holds its port
        // (often a cluster left running in another directory) would answer
        // its readiness probe, and `up` would report a cluster that is not ours.
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", node.port)) {
            bail!(
                "{name}: 127.0.0.1:{} is not free ({e}); is another cluster running there? \
                 (`ferry-local down --dir <its dir>`, or lay this one out with another --base-port)",
                node.port
            );
        }
        let cfg = self.config_file(name);
        let cfg = cfg.to_string_lossy();
        let envs = vec![(
            "RUST_LOG".to_string(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,openraft=warn,sled=warn".into()),
        )];
        let procs = self
            .cgroup_root
            .as_ref()
            .map(|root| root.join(name).join("cgroup.procs"));
        let child = process::spawn_detached(
            &bin,
            &["--config", &cfg],
            &envs,
            &self.log_file(name),
            procs.as_deref(),
        )?;
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
            // Whoever answered, the node is only ready if it is still running
            // (reaped first: an exited child of ours lingers as a zombie).
            self.reap(name);
            match self.state(name)? {
                NodeState::Stopped => bail!("{name} exited; see {}", self.log_file(name).display()),
                _ => Ok(()),
            }
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
        // A stopped (SIGSTOP) process still dies on SIGKILL.
        process::signal(pid, sig)?;
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
