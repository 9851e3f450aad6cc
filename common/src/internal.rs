//! Controller <-> broker bodies: registration, heartbeats, ISR changes, metadata push.
//!
//! Internal endpoints live under `/internal/v1/` on both services; they are
//! versioned with the binaries, not part of the public contract.

use crate::metadata::{MetadataDelta, PartitionState};
use crate::types::{
    BrokerEpoch, BrokerId, LeaderEpoch, MetadataOffset, PartitionEpoch, PartitionId,
};
use serde::{Deserialize, Serialize};

/// `POST /internal/v1/brokers/register` on the active controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBrokerRequest {
    /// `None` asks the controller to allocate an id.
    #[serde(default)]
    pub broker_id: Option<BrokerId>,
    pub url: String,
    #[serde(default)]
    pub rack: Option<String>,
    /// Unique per process start; tells a restart from a retried request.
    pub incarnation_id: String,
    /// The cluster the broker's data dir belongs to, if it has one.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// How the broker's previous run ended, from its clean-shutdown marker
    /// (Kafka's `PreviousBrokerEpoch`). Absent (older brokers): not known.
    #[serde(default, skip_serializing_if = "PreviousShutdown::is_unknown")]
    pub previous_shutdown: PreviousShutdown,
}

/// What a registering broker knows about the end of its previous run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreviousShutdown {
    /// Not reported (a broker from before this field): handled as before,
    /// without touching its ISR or ELR seats.
    #[default]
    Unknown,
    /// The marker was there: the run registered at `broker_epoch` flushed
    /// and closed every log before it exited.
    Clean { broker_epoch: BrokerEpoch },
    /// No marker (a crash, a kill, a power cut, or a new data dir): the log
    /// may have lost its unsynced tail.
    Unclean,
}

impl PreviousShutdown {
    /// Whether the field is absent (for serde).
    pub fn is_unknown(&self) -> bool {
        matches!(self, PreviousShutdown::Unknown)
    }
}

/// Answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerResponse {
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
    pub cluster_id: String,
}

/// `POST /internal/v1/brokers/{id}/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    pub broker_epoch: BrokerEpoch,
    /// The metadata offset the broker has applied.
    pub metadata_offset: MetadataOffset,
}

/// Answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub fenced: bool,
    /// The metadata offset the broker must reach before it is unfenced.
    pub unfence_at_offset: MetadataOffset,
    pub controller_id: u64,
}

/// `POST /internal/v1/alter-partition`: a partition leader asks to change the ISR.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlterPartitionRequest {
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
    pub topic: String,
    pub partition: PartitionId,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: PartitionEpoch,
    pub new_isr: Vec<BrokerId>,
}

/// Answer to AlterPartition: the partition's committed state.
pub type AlterPartitionResponse = PartitionState;

/// `POST /internal/v1/metadata/deltas` on a broker, sent by the active controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataPush {
    pub controller_id: u64,
    pub term: u64,
    /// The controller's applied offset; a broker whose image has every record up
    /// to `head_last_record_offset` may advance its offset to it.
    pub head_offset: MetadataOffset,
    pub head_last_record_offset: MetadataOffset,
    pub deltas: Vec<MetadataDelta>,
    /// The controller cannot bring this broker up to date with deltas (its
    /// delta ring does not reach back far enough, or the next delta is too
    /// large to push): pull a snapshot. Absent (old controllers) means false.
    #[serde(default)]
    pub resync: bool,
}

/// A broker's answer to a push: where its image now is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataPushResponse {
    pub applied_offset: MetadataOffset,
}

/// `POST /internal/v1/replica/fetch` on a partition leader: a follower's
/// long-poll fetch for every partition it follows from that leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaFetchRequest {
    pub replica_id: BrokerId,
    pub max_wait_ms: u64,
    pub max_bytes: usize,
    pub partitions: Vec<ReplicaFetchPartition>,
}

/// One partition of a replica fetch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaFetchPartition {
    pub topic: String,
    pub partition: PartitionId,
    /// The leader epoch the follower believes current (fencing).
    pub current_leader_epoch: LeaderEpoch,
    /// The follower's log end offset: where to read from.
    pub fetch_offset: u64,
    /// Epoch of the follower's last batch, for divergence detection.
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// Where the follower's log counts to for the HW: its fsynced offset (its
    /// log end on a `write.caching` topic), at most `fetch_offset`. Absent
    /// (an older follower): `fetch_offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_offset: Option<u64>,
}

/// Where the leader's log for `epoch` ends (Kafka's DivergingEpoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochEndOffset {
    pub epoch: LeaderEpoch,
    pub end_offset: u64,
}

/// The leader's answer for one partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaFetchPartitionResult {
    pub topic: String,
    pub partition: PartitionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<crate::ErrorCode>,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub log_end_offset: u64,
    /// Set when the follower's log diverged: truncate, then fetch again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverging_epoch: Option<EpochEndOffset>,
    /// Bytes of encoded record batches for this partition in the binary tail
    /// of the response (see [`encode_replica_fetch`]).
    #[serde(default)]
    pub records_len: usize,
}

/// Answer to a replica fetch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaFetchResponse {
    pub partitions: Vec<ReplicaFetchPartitionResult>,
}

/// `POST /internal/v1/brokers/{id}/shutdown`: a broker asks to be moved out of
/// leadership before it exits (controlled shutdown).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlledShutdownRequest {
    pub broker_epoch: BrokerEpoch,
}

/// A broker's report that another broker refused its connection
/// (`POST /internal/v1/brokers/{suspect}/unreachable`): a closed port, which
/// the controller confirms with its own probe before fencing the suspect.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnreachableReport {
    pub reporter_id: BrokerId,
    pub reporter_epoch: BrokerEpoch,
}

/// What the controller made of an [`UnreachableReport`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnreachableVerdict {
    /// Whether the suspect is fenced now (by this report or before it).
    pub fenced: bool,
    /// Why, in a few words (`refused`, `answered`, `probe in flight`, ...).
    pub reason: String,
}

/// Content type of a replica fetch answer: `[u32 BE header length][header
/// JSON][each partition's batches, in header order]`. Batches travel as raw
/// bytes (no base64, no JSON escaping): replication moves every record twice
/// more than RF 1 does, so its encoding matters.
pub const REPLICA_FETCH_CONTENT_TYPE: &str = "application/vnd.ferry.replica-fetch";

/// Encodes a replica fetch answer; `batches[i]` belongs to `header.partitions[i]`
/// and its length must equal that partition's `records_len`.
pub fn encode_replica_fetch(
    header: &ReplicaFetchResponse,
    batches: &[Vec<u8>],
) -> Result<Vec<u8>, serde_json::Error> {
    let head = serde_json::to_vec(header)?;
    let tail: usize = batches.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(4 + head.len() + tail);
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    for b in batches {
        out.extend_from_slice(b);
    }
    Ok(out)
}

/// Decodes [`encode_replica_fetch`]'s output: the header and each partition's batches.
pub fn decode_replica_fetch(body: &[u8]) -> Result<(ReplicaFetchResponse, Vec<&[u8]>), String> {
    let len_bytes: [u8; 4] = body
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or("replica fetch body shorter than its length prefix")?;
    let head_len = u32::from_be_bytes(len_bytes) as usize;
    let head = body
        .get(4..4 + head_len)
        .ok_or("replica fetch header truncated")?;
    let header: ReplicaFetchResponse =
        serde_json::from_slice(head).map_err(|e| format!("replica fetch header: {e}"))?;
    let mut pos = 4 + head_len;
    let mut parts = Vec::with_capacity(header.partitions.len());
    for p in &header.partitions {
        let end = pos
            .checked_add(p.records_len)
            .ok_or("replica fetch lengths overflow")?;
        parts.push(
            body.get(pos..end)
                .ok_or("replica fetch batches truncated")?,
        );
        pos = end;
    }
    if pos != body.len() {
        return Err("replica fetch body has trailing bytes".into());
    }
    Ok((header, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_without_the_shutdown_field_read_as_unknown() {
        let old = r#"{"url":"http://b","incarnation_id":"i"}"#;
        let r: RegisterBrokerRequest = serde_json::from_str(old).unwrap();
        assert_eq!(r.previous_shutdown, PreviousShutdown::Unknown);
        let mut r2 = r.clone();
        r2.previous_shutdown = PreviousShutdown::Clean { broker_epoch: 7 };
        let json = serde_json::to_string(&r2).unwrap();
        assert!(
            json.contains(r#""previous_shutdown":{"kind":"clean","broker_epoch":7}"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<RegisterBrokerRequest>(&json).unwrap(),
            r2
        );
        r2.previous_shutdown = PreviousShutdown::Unclean;
        let json = serde_json::to_string(&r2).unwrap();
        assert_eq!(
            serde_json::from_str::<RegisterBrokerRequest>(&json).unwrap(),
            r2
        );
    }

    #[test]
    fn a_push_without_the_resync_field_reads_as_no_resync() {
        let old = r#"{"controller_id":1,"term":2,"head_offset":9,"head_last_record_offset":8,"deltas":[]}"#;
        let push: MetadataPush = serde_json::from_str(old).unwrap();
        assert!(!push.resync);
        let new = serde_json::to_value(&push).unwrap();
        assert_eq!(new["resync"], false);
    }

    #[test]
    fn replica_fetch_frames_round_trip_and_reject_truncation() {
        let result = |partition, records_len| ReplicaFetchPartitionResult {
            topic: "t".into(),
            partition,
            error_code: None,
            high_watermark: 1,
            log_start_offset: 0,
            log_end_offset: 2,
            diverging_epoch: None,
            records_len,
        };
        let header = ReplicaFetchResponse {
            partitions: vec![result(0, 3), result(1, 0), result(2, 2)],
        };
        let body = encode_replica_fetch(&header, &[vec![1, 2, 3], vec![], vec![9, 9]]).unwrap();
        let (h, parts) = decode_replica_fetch(&body).unwrap();
        assert_eq!(h.partitions.len(), 3);
        assert_eq!(parts, vec![&[1u8, 2, 3][..], &[][..], &[9u8, 9][..]]);
        assert!(decode_replica_fetch(&body[..body.len() - 1]).is_err());
        assert!(decode_replica_fetch(&body[..3]).is_err());
        let mut extra = body.clone();
        extra.push(0);
        assert!(decode_replica_fetch(&extra).is_err());
    }
}
