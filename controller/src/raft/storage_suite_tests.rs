//! openraft's own storage contract suite against the sled log store and the
//! metadata state-machine adapter, on real sled files in a temp dir.

use super::log_store::SledLogStore;
use super::state_machine_adapter::MetadataStateMachine;
use super::types::{NodeId, TypeConfig};
use crate::storage::durable::DurableDb;
use crate::storage::state_store::StateStore;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{StorageError, StorageIOError};
use tempfile::TempDir;

/// A fresh data dir per build, opened the way `raft::start` opens it.
struct SledStoreBuilder;

impl StoreBuilder<TypeConfig, SledLogStore, MetadataStateMachine, TempDir> for SledStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, SledLogStore, MetadataStateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let opened = DurableDb::open(dir.path(), 1).and_then(|durable| {
            let log = SledLogStore::open(durable.clone())?;
            let (sm, _view) =
                MetadataStateMachine::open(StateStore::open(durable)?, dir.path().into(), 16)?;
            Ok((log, sm))
        });
        let (log, sm) = opened.map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_log_store_and_state_machine_pass_openraft_storage_suite() {
    let result =
        Suite::<TypeConfig, SledLogStore, MetadataStateMachine, SledStoreBuilder, TempDir>::test_all(
            SledStoreBuilder,
        );
    if let Err(e) = result {
        panic!("openraft storage suite failed: {e}");
    }
}
