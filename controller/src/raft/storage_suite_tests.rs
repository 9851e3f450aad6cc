//! openraft's own storage contract suite against the sled log store and the
//! metadata state-machine adapter, on real sled files in a temp dir; plus what
//! the suite cannot build itself: applying normal (command) entries, and
//! reopening the files.

use super::log_store::SledLogStore;
use super::state_machine_adapter::StateMachineAdapter;
use super::types::{NodeId, TypeConfig};
use crate::metadata::commands::{Command, CommandRequest, Outcome};
use crate::metadata::state_view::StateView;
use crate::storage::durable::DurableDb;
use crate::storage::state_store::StateStore;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{log_id, StoreBuilder, Suite};
use openraft::{Entry, EntryPayload, RaftSnapshotBuilder, StorageError, StorageIOError, Vote};
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;

type Opened = (SledLogStore, StateMachineAdapter, Arc<StateView>);

/// Opens a data dir the way `raft::start` does.
fn open(dir: &Path) -> Result<Opened, crate::storage::StorageError> {
    let durable = DurableDb::open(dir, 1)?;
    let log = SledLogStore::open(durable.clone())?;
    let (sm, view) = StateMachineAdapter::open(StateStore::open(durable)?, dir.into(), 16)?;
    Ok((log, sm, view))
}

/// A fresh data dir per build, opened the way `raft::start` opens it.
struct SledStoreBuilder;

impl StoreBuilder<TypeConfig, SledLogStore, StateMachineAdapter, TempDir> for SledStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, SledLogStore, StateMachineAdapter), StorageError<NodeId>> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let (log, sm, _view) = open(dir.path()).map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_log_store_and_state_machine_pass_openraft_storage_suite() {
    let result =
        Suite::<TypeConfig, SledLogStore, StateMachineAdapter, SledStoreBuilder, TempDir>::test_all(
            SledStoreBuilder,
        );
    if let Err(e) = result {
        panic!("openraft storage suite failed: {e}");
    }
}

fn normal(index: u64, command: Command) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(CommandRequest {
            client: None,
            command,
        }),
    }
}

#[tokio::test]
async fn applied_commands_vote_and_snapshot_survive_reopening_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm, _view) = open(dir.path()).unwrap();
    let vote = Vote::new(3, 1);
    log.save_vote(&vote).await.unwrap();
    let init = Command::InitCluster {
        cluster_id: "c1".into(),
    };
    let replies = sm
        .apply([normal(1, init.clone()), normal(2, init)])
        .await
        .unwrap();
    assert_eq!(replies, vec![Ok(Outcome::Done), Ok(Outcome::Done)]);
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 1, 2)));
    let applied = sm.applied_state().await.unwrap();
    drop((log, sm, _view));

    let (mut log, mut sm, view) = open(dir.path()).unwrap();
    let image = view.read(|s| s.image.clone());
    assert_eq!((image.cluster_id.as_deref(), image.offset), (Some("c1"), 2));
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(sm.applied_state().await.unwrap(), applied);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);
    assert_eq!(current.snapshot.get_ref(), snapshot.snapshot.get_ref());
}
