//! The client session table: a retried write (same client id and sequence) is
//! answered with its first result instead of being applied twice.
//!
//! The table is part of [`super::ControllerState`], so every replica answers a
//! retry identically, also after a leader change.

use super::commands::{ClientRef, CommandResult, Rejection};
use ferry_common::types::MetadataOffset;
use ferry_common::ErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Client sessions remembered for idempotent retries (least recently used evicted).
pub const MAX_CLIENT_SESSIONS: usize = 10_000;

/// The last write of one client, for answering its retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSession {
    pub seq: u64,
    pub offset: MetadataOffset,
    pub result: CommandResult,
}

/// The answer for a write this client already made: its stored result for the
/// same sequence, a rejection for an older one, `None` for a new one.
pub fn earlier_answer(
    sessions: &BTreeMap<String, ClientSession>,
    client: &ClientRef,
) -> Option<CommandResult> {
    let s = sessions.get(&client.id)?;
    if client.seq == s.seq {
        return Some(s.result.clone());
    }
    if client.seq < s.seq {
        return Some(Err(Rejection::new(
            ErrorCode::InvalidRequest,
            format!(
                "sequence {} of client '{}' is older than its last write {}",
                client.seq, client.id, s.seq
            ),
        )));
    }
    None
}

/// Stores `result` as the client's last write at `offset`; answers the ids of
/// the sessions evicted to stay within [`MAX_CLIENT_SESSIONS`].
pub fn remember(
    sessions: &mut BTreeMap<String, ClientSession>,
    client: &ClientRef,
    offset: MetadataOffset,
    result: &CommandResult,
) -> Vec<String> {
    sessions.insert(
        client.id.clone(),
        ClientSession {
            seq: client.seq,
            offset,
            result: result.clone(),
        },
    );
    let mut evicted = Vec::new();
    while sessions.len() > MAX_CLIENT_SESSIONS {
        let oldest = sessions
            .iter()
            .min_by_key(|(k, s)| (s.offset, (*k).clone()))
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                sessions.remove(&k);
                evicted.push(k);
            }
            None => break,
        }
    }
    evicted
}
