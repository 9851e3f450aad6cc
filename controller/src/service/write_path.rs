//! The one write path through Raft, shared by the admin and broker services and
//! the background tasks: check leadership, propose, wait until the command is
//! committed and applied here, and map openraft's answers to [`ControllerError`].

use crate::config::Voter;
use crate::error::ControllerError;
use crate::metadata::commands::{ClientRef, Command, CommandRequest, Outcome};
use crate::raft::types::{MetadataRaft, NodeId};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{RaftMetrics, ServerState};
use std::time::Duration;

/// Leadership queries and writes of this controller.
pub struct WritePath {
    node_id: NodeId,
    voters: Vec<Voter>,
    raft: MetadataRaft,
    write_timeout: Duration,
}

impl WritePath {
    pub fn new(
        node_id: NodeId,
        voters: Vec<Voter>,
        raft: MetadataRaft,
        write_timeout: Duration,
    ) -> Self {
        WritePath {
            node_id,
            voters,
            raft,
            write_timeout,
        }
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The static quorum from the config.
    pub fn voters(&self) -> &[Voter] {
        &self.voters
    }

    /// openraft's current metrics of this node (state, term, leader, indexes).
    pub fn raft_metrics(&self) -> RaftMetrics<NodeId, openraft::BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// The current Raft term.
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// The current leader's id and URL, as far as this node knows.
    pub fn leader(&self) -> (Option<NodeId>, Option<String>) {
        let id = self.raft.metrics().borrow().current_leader;
        (id, id.and_then(|id| self.url_of(id)))
    }

    fn url_of(&self, id: NodeId) -> Option<String> {
        self.voters
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.url.clone())
    }

    /// Whether this node is the active controller right now.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        m.state == ServerState::Leader && m.current_leader == Some(self.node_id)
    }

    /// `NOT_CONTROLLER` unless this node is the active controller.
    pub fn require_leader(&self) -> Result<(), ControllerError> {
        if self.is_leader() {
            Ok(())
        } else {
            Err(self.not_controller())
        }
    }

    fn not_controller(&self) -> ControllerError {
        let (leader_id, leader_url) = self.leader();
        let leader_id = leader_id.filter(|id| *id != self.node_id);
        ControllerError::NotController {
            leader_url: leader_id.and(leader_url),
            leader_id,
        }
    }

    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.write_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// Proposes `command`, waits until it is committed and applied here, and
    /// returns what applying it answered.
    pub async fn write(
        &self,
        client: Option<ClientRef>,
        command: Command,
    ) -> Result<Outcome, ControllerError> {
        self.write_with_offset(client, command)
            .await
            .map(|(outcome, _)| outcome)
    }

    /// [`write`](Self::write), also answering the log index (the metadata
    /// offset) the command was applied at.
    pub async fn write_with_offset(
        &self,
        client: Option<ClientRef>,
        command: Command,
    ) -> Result<(Outcome, u64), ControllerError> {
        self.require_leader()?;
        let req = CommandRequest { client, command };
        let res = tokio::time::timeout(self.write_timeout, self.raft.client_write(req)).await;
        match res {
            Err(_) => Err(ControllerError::WriteOutcomeUnknown {
                timeout_ms: self.timeout_ms(),
            }),
            Ok(Ok(resp)) => {
                let offset = resp.log_id.index;
                resp.data
                    .map(|o| (o, offset))
                    .map_err(ControllerError::Rejected)
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(ControllerError::NotController {
                    leader_url: f
                        .leader_node
                        .map(|n| n.addr)
                        .or_else(|| f.leader_id.and_then(|id| self.url_of(id))),
                    leader_id: f.leader_id,
                })
            }
            Ok(Err(e)) => Err(ControllerError::Internal(format!("raft write failed: {e}"))),
        }
    }

    /// Waits until this node has applied everything committed before the call
    /// and is still the leader (a linearizable read point).
    pub async fn linearizable(&self) -> Result<(), ControllerError> {
        self.require_leader()?;
        match tokio::time::timeout(self.write_timeout, self.raft.ensure_linearizable()).await {
            Err(_) => Err(ControllerError::ReadPointTimedOut {
                timeout_ms: self.timeout_ms(),
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(_))) => Err(self.not_controller()),
            Ok(Err(e)) => Err(ControllerError::Internal(e.to_string())),
        }
    }
}
