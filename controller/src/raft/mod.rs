//! openraft wiring: type config, storage adapters, the HTTP network, and start-up.
//!
//! - [`types`]: the openraft type config and [`types::MetadataRaft`] (a leaf).
//! - [`log_store`]: `RaftLogStorage` over sled (log, vote, commit index).
//! - [`state_machine_adapter`]: `RaftStateMachine` feeding the metadata core,
//!   persisted through [`crate::storage::state_store`], snapshots as files.
//! - [`network`]: Raft RPCs to the other controllers over HTTP.
//! - [`peer_contacts`]: when this node last heard from each peer.
//! - [`start`] (here): opens storage, starts the node, bootstraps the quorum.

pub mod log_store;
pub mod network;
pub mod peer_contacts;
pub mod state_machine_adapter;
pub mod types;

#[cfg(test)]
mod storage_suite_tests;

use crate::config::{ControllerConfig, Voter};
use crate::metadata::state_view::StateView;
use crate::storage::durable::DurableDb;
use crate::storage::state_store::StateStore;
use log_store::SledLogStore;
use openraft::{BasicNode, SnapshotPolicy};
use peer_contacts::PeerContacts;
use state_machine_adapter::StateMachineAdapter;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use types::MetadataRaft;

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
    pub contacts: Arc<PeerContacts>,
    pub committed: Arc<AtomicU64>,
}

/// Opens storage, starts the Raft node and bootstraps the static quorum on first start.
/// Its Raft RPCs are signed by `signer` and reach TLS peers with `tls`.
pub async fn start(
    cfg: &ControllerConfig,
    voters: &[Voter],
    signer: ferry_http::auth::Signer,
    tls: ferry_http::tls::ClientTls,
) -> Result<RaftNode, StartError> {
    let durable = DurableDb::open(&cfg.data_dir, cfg.node_id)?;
    let log_store = SledLogStore::open(durable.clone())?;
    let committed = log_store.committed_index();
    let contacts = Arc::new(PeerContacts::default());
    let (sm, view) = StateMachineAdapter::open(
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
        network::HttpNetwork::new(contacts.clone(), signer).with_tls(tls),
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
