//! openraft's `RaftStateMachine` adapter: applies committed entries to the
//! metadata core through [`StateView`], persists the result in sled
//! ([`StateStore`]), and builds and installs snapshots as files.

use super::types::{NodeId, TypeConfig};
use crate::metadata::commands::{CommandResult, Outcome};
use crate::metadata::state_view::StateView;
use crate::metadata::ControllerState;
use crate::storage::snapshot_file::{read_optional, write_atomic};
use crate::storage::state_store::{StateHeader, StateStore};
use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

/// The snapshot file: Raft's metadata plus the whole state.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    state: ControllerState,
}

/// openraft's `RaftStateMachine` over [`ControllerState`]: applies through the
/// [`StateView`], persists through the [`StateStore`].
pub struct StateMachineAdapter {
    view: Arc<StateView>,
    store: StateStore,
    header: StateHeader,
    snapshot_path: PathBuf,
}

impl StateMachineAdapter {
    /// Loads the stored state; returns the machine and the view it feeds.
    pub fn open(
        store: StateStore,
        dir: PathBuf,
        ring_capacity: usize,
    ) -> Result<(Self, Arc<StateView>), crate::storage::StorageError> {
        let (state, header) = store.load()?;
        let view = StateView::new(state, ring_capacity);
        let sm = StateMachineAdapter {
            view: view.clone(),
            store,
            header,
            snapshot_path: dir.join("snapshot.json"),
        };
        Ok((sm, view))
    }
}

fn header_for(
    state: &ControllerState,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
) -> StateHeader {
    StateHeader {
        last_applied,
        membership,
        cluster_id: state.image.cluster_id.clone(),
        offset: state.image.offset,
        last_record_offset: state.image.last_record_offset,
        next_producer_id: state.image.next_producer_id,
    }
}

/// Builds snapshots from a copy taken when the builder was made, so the state
/// and its `last_applied` always match.
pub struct MetadataSnapshotBuilder {
    state: ControllerState,
    header: StateHeader,
    store: StateStore,
    snapshot_path: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for MetadataSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // The log is purged up to this snapshot next: the stored state must be on disk first.
        self.store
            .sync()
            .await
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        let last = self.header.last_applied;
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.header.membership.clone(),
            snapshot_id,
        };
        let file = SnapshotFile {
            meta: meta.clone(),
            state: self.state.clone(),
        };
        let bytes =
            serde_json::to_vec(&file).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let path = self.snapshot_path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let data = serde_json::to_vec(&self.state)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        tracing::info!(snapshot = %meta.snapshot_id, "built metadata snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineAdapter {
    type SnapshotBuilder = MetadataSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        Ok((self.header.last_applied, self.header.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut results = Vec::new();
        let mut applied = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            self.header.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {
                    self.view.apply_empty(index);
                    results.push(Ok(Outcome::Done));
                }
                EntryPayload::Membership(m) => {
                    self.header.membership = StoredMembership::new(Some(entry.log_id), m);
                    self.view.apply_empty(index);
                    results.push(Ok(Outcome::Done));
                }
                EntryPayload::Normal(req) => {
                    let a = self.view.apply(index, &req);
                    results.push(a.result.clone());
                    applied.push(a);
                }
            }
        }
        let (last_applied, membership) = (self.header.last_applied, self.header.membership.clone());
        let store = &self.store;
        let header = self.view.read(|s| {
            let header = header_for(s, last_applied, membership);
            store.persist(s, &applied, &header).map(|_| header)
        });
        self.header = header.map_err(|e| StorageIOError::write_state_machine(&e))?;
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        MetadataSnapshotBuilder {
            state: self.view.read(|s| s.clone()),
            header: self.header.clone(),
            store: self.store.clone(),
            snapshot_path: self.snapshot_path.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let sig = Some(meta.signature());
        let state: ControllerState = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        let header = header_for(&state, meta.last_log_id, meta.last_membership.clone());
        let file = SnapshotFile {
            meta: meta.clone(),
            state: state.clone(),
        };
        let bytes = serde_json::to_vec(&file)
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        let (store, path, st, hd) = (
            self.store.clone(),
            self.snapshot_path.clone(),
            state.clone(),
            header.clone(),
        );
        tokio::task::spawn_blocking(move || {
            // State first: a crash in between leaves an old snapshot file beside
            // newer state, which is safe; the reverse could hide purged entries.
            store.replace_all(&st, &hd)?;
            write_atomic(&path, &bytes)
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
        .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        tracing::info!(snapshot = %meta.snapshot_id, "installed metadata snapshot from the leader");
        self.view.replace(state);
        self.header = header;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let Some(bytes) = read_optional(&self.snapshot_path)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?
        else {
            return Ok(None);
        };
        let file: SnapshotFile =
            serde_json::from_slice(&bytes).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        let data =
            serde_json::to_vec(&file.state).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
