//! openraft's type configuration for the controller quorum (a leaf: it names
//! only the metadata commands).

use crate::metadata::commands::{CommandRequest, CommandResult};
use openraft::BasicNode;
use std::io::Cursor;

/// Raft node ids are the controllers' configured `node_id`s.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Ferry controller's Raft types: commands in, command results out.
    pub TypeConfig:
        D = CommandRequest,
        R = CommandResult,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A running Raft node.
pub type MetadataRaft = openraft::Raft<TypeConfig>;
