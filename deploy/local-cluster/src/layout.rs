//! What a local cluster is made of: its nodes, their ports and extra settings,
//! as persisted in `DIR/cluster.json`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// The node serves TLS (the cluster was laid out with `tls`).
    #[serde(default)]
    pub tls: bool,
}

impl NodeSpec {
    /// The node's base URL on loopback (`https://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// The persistent description of a local cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterLayout {
    pub dir: PathBuf,
    /// Where `ferry-controller` and `ferry-broker` live.
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
    #[serde(default)]
    pub data_roots: DataRoots,
    /// Every node serves TLS with a certificate from `DIR/tls/` ([`crate::tls`]).
    #[serde(default)]
    pub tls: bool,
}

/// Where nodes keep their data instead of `DIR/NAME/data`: with a root set,
/// node `NAME` of that kind uses `ROOT/NAME` (tests put it on a power-cut
/// mount while configs, logs and pid files stay on the real disk).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRoots {
    pub controllers: Option<PathBuf>,
    pub brokers: Option<PathBuf>,
}

impl ClusterLayout {
    /// The controllers, in id order.
    pub fn controllers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Controller)
    }

    /// The brokers, in id order.
    pub fn brokers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Broker)
    }
}

/// What to lay out: controllers listen on `base_port + 1..`, brokers on
/// `base_port + 101..`.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub controllers: usize,
    pub brokers: usize,
    pub base_port: u16,
    pub bin_dir: PathBuf,
    pub controller_settings: Vec<(String, String)>,
    pub broker_settings: Vec<(String, String)>,
    pub data_roots: DataRoots,
    /// Serve TLS on every node, with a throwaway CA made on first start.
    pub tls: bool,
}

/// Observed state of a node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Running(i32),
    Paused(i32),
    Stopped,
}
