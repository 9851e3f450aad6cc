//! Raft plumbing: the openraft type config, the HTTP network and the state machine glue.

pub mod network;
pub mod state_machine;

use crate::config::{ControllerConfig, Voter};
use crate::service::commands::{CommandRequest, CommandResult};
use crate::service::state_view::StateView;
use crate::storage::durable::DurableDb;
use crate::storage::raft_log::SledLogStore;
use crate::storage::state_store::StateStore;
use openraft::{BasicNode, SnapshotPolicy};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

openraft::declare_raft_types!(
    /// Ferry controller's Raft types: commands in, command results out.
    pub TypeConfig:
        D = CommandRequest,
        R = CommandResult,
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A running Raft node.
pub type MetadataRaft = openraft::Raft<TypeConfig>;

/// Why the Raft node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("raft config: {0}")]
    Config(String),
    #[error("raft: {0}")]
    Raft(String),
}

/// Handles on a started Raft node.
pub struct RaftNode {
    pub raft: MetadataRaft,
    pub view: Arc<StateView>,
    pub contacts: Arc<network::PeerContacts>,
    pub committed: Arc<AtomicU64>,
}

/// Opens storage, starts the Raft node and bootstraps the static quorum on first start.
pub async fn start(cfg: &ControllerConfig, voters: &[Voter]) -> Result<RaftNode, StartError> {
    let durable = DurableDb::open(&cfg.data_dir, cfg.node_id)?;
    let log_store = SledLogStore::open(durable.clone())?;
    let committed = log_store.committed_index();
    let contacts = Arc::new(network::PeerContacts::default());
    let (sm, view) = state_machine::MetadataStateMachine::open(
        StateStore::open(durable)?,
        cfg.data_dir.clone(),
        cfg.delta_ring_entries,
    )?;
    let r = &cfg.raft;
    let raft_config = openraft::Config {
        cluster_name: "ferry-controllers".into(),
        heartbeat_interval: r.heartbeat_interval_ms,
        election_timeout_min: r.election_timeout_min_ms,
        election_timeout_max: r.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(r.snapshot_every_entries),
        max_in_snapshot_log_to_keep: r.log_entries_kept_after_snapshot,
        snapshot_max_chunk_size: 1024 * 1024,
        install_snapshot_timeout: 2_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| StartError::Config(e.to_string()))?;
    let raft = openraft::Raft::new(
        cfg.node_id,
        Arc::new(raft_config),
        network::HttpNetwork::new(contacts.clone()),
        log_store,
        sm,
    )
    .await
    .map_err(|e| StartError::Raft(e.to_string()))?;
    // Every voter initialises itself with the same static membership; openraft
    // accepts that (identical first entries) and ignores it once a log exists,
    // so this is safe on every restart.
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    if !initialized {
        let members: BTreeMap<u64, BasicNode> = voters
            .iter()
            .map(|v| {
                (
                    v.id,
                    BasicNode {
                        addr: v.url.clone(),
                    },
                )
            })
            .collect();
        match raft.initialize(members).await {
            Ok(()) => tracing::info!(node_id = cfg.node_id, "bootstrapped controller quorum"),
            Err(e) => tracing::info!(error = %e, "quorum already bootstrapped"),
        }
    }
    Ok(RaftNode {
        raft,
        view,
        contacts,
        committed,
    })
}
