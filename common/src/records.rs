//! Public REST bodies of the broker (README, section "API": broker) and
//! the key/value encoding rules: a JSON string is stored as its UTF-8 bytes, any
//! other JSON value as its compact JSON text, `key_b64`/`value_b64` carry
//! arbitrary bytes; on the way out valid UTF-8 comes back as a string, anything
//! else as base64, so bytes always round-trip exactly.

use crate::types::{BrokerId, LeaderEpoch, PartitionId};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One record to produce.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    /// `None` when absent; `Some(Value::Null)` for an explicit null (a tombstone).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    /// `{"name": "text"}` or `[{"key": "name", "value"|"value_b64": ...}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i64>,
    /// Milliseconds since the epoch (CreateTime); defaults to the broker's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// `POST /v1/topics/{topic}/records` and the strict partition variant.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    pub records: Vec<ProduceRecord>,
    /// `"all"`/`-1`, `"1"`/`1`, `"0"`/`0`; default `all` (see [`Acks::parse`]).
    #[serde(default)]
    pub acks: Option<Value>,
    /// How long acks=all may wait for replication before `REQUEST_TIMED_OUT`.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// The partition leader epoch the client expects (strict partition endpoint):
    /// an older one is refused with `FENCED_LEADER_EPOCH`, a newer one with
    /// `UNKNOWN_LEADER_EPOCH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>)]
    pub leader_epoch: Option<LeaderEpoch>,
    /// Idempotent producer (strict partition endpoint): id from the
    /// controller's `POST /v1/producer-ids`, its epoch, and the sequence number
    /// of the first record; the records are one batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_epoch: Option<i16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_sequence: Option<i32>,
}

/// Producer acknowledgement level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Acks {
    /// Answer without waiting for the append.
    None,
    /// Answer after the leader's append.
    Leader,
    /// Answer once the high watermark passes the records (every ISR member has them).
    All,
}

impl Acks {
    /// Parses the JSON forms people send; default is `all`, as in Kafka 3.x.
    pub fn parse(v: Option<&Value>) -> Result<Acks, String> {
        match v {
            None | Some(Value::Null) => Ok(Acks::All),
            Some(Value::String(s)) => match s.as_str() {
                "all" | "-1" => Ok(Acks::All),
                "1" => Ok(Acks::Leader),
                "0" => Ok(Acks::None),
                other => Err(format!(
                    "acks must be \"all\", \"1\" or \"0\", got \"{other}\""
                )),
            },
            Some(Value::Number(n)) => match n.as_i64() {
                Some(-1) => Ok(Acks::All),
                Some(1) => Ok(Acks::Leader),
                Some(0) => Ok(Acks::None),
                _ => Err(format!("acks must be all, 1 or 0, got {n}")),
            },
            Some(other) => Err(format!("acks must be all, 1 or 0, got {other}")),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// One entry of a produce answer, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ProduceResult {
    Ok {
        #[schema(value_type = u32)]
        partition: PartitionId,
        offset: i64,
    },
    Err {
        #[schema(value_type = Option<u32>)]
        partition: Option<PartitionId>,
        error_code: crate::ErrorCode,
        message: String,
    },
}

/// Answer of a produce request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProduceResponse {
    pub offsets: Vec<ProduceResult>,
}

/// One fetched record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FetchedRecord {
    pub offset: u64,
    pub timestamp: i64,
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    /// The last header of each name (Kafka's `lastHeader`), as text.
    pub headers: BTreeMap<String, Option<String>>,
    /// The last header of each name whose value is not text, as base64.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_b64: BTreeMap<String, String>,
    /// Every header in order, present only when a name repeats (Kafka allows
    /// that; an object cannot hold it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_list: Option<Vec<FetchedHeader>>,
}

/// One header in [`FetchedRecord::header_list`]: text or base64 as for values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FetchedHeader {
    pub key: String,
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
}

impl FetchedRecord {
    /// The JSON form of a stored record's key, value and headers.
    pub fn from_parts(
        offset: u64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        stored_headers: &[(String, Vec<u8>)],
    ) -> Self {
        let (key, key_b64) = bytes_to_json(key);
        let (value, value_b64) = bytes_to_json(value);
        let mut headers = BTreeMap::new();
        let mut headers_b64 = BTreeMap::new();
        let mut list = Vec::with_capacity(stored_headers.len());
        for (k, v) in stored_headers {
            let (text, b64) = bytes_to_json(Some(v));
            // A later header of the same name replaces the earlier one in
            // whichever map it lands, so each name appears once across both.
            if let Some(b64) = &b64 {
                headers.remove(k);
                headers_b64.insert(k.clone(), b64.clone());
            } else {
                headers_b64.remove(k);
                headers.insert(k.clone(), text.clone());
            }
            list.push(FetchedHeader {
                key: k.clone(),
                value: text,
                value_b64: b64,
            });
        }
        let repeats = headers.len() + headers_b64.len() < list.len();
        FetchedRecord {
            offset,
            timestamp,
            key,
            key_b64,
            value,
            value_b64,
            headers,
            headers_b64,
            header_list: repeats.then_some(list),
        }
    }

    /// Every header in stored order, decoded back to bytes.
    pub fn header_bytes(&self) -> Vec<Header> {
        let b64 = base64::engine::general_purpose::STANDARD;
        match &self.header_list {
            Some(list) => list
                .iter()
                .map(|h| {
                    let bytes = match (&h.value, &h.value_b64) {
                        (_, Some(enc)) => b64.decode(enc).ok(),
                        (Some(text), None) => Some(text.clone().into_bytes()),
                        (None, None) => None,
                    };
                    (h.key.clone(), bytes)
                })
                .collect(),
            None => self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().map(String::into_bytes)))
                .chain(
                    self.headers_b64
                        .iter()
                        .map(|(k, v)| (k.clone(), b64.decode(v).ok())),
                )
                .collect(),
        }
    }
}

/// `GET /v1/topics/{t}/partitions/{p}/records`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FetchResponse {
    pub records: Vec<FetchedRecord>,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub next_offset: u64,
}

/// `GET /v1/topics/{t}/partitions/{p}/offsets`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OffsetsResponse {
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub log_end_offset: u64,
    /// With `?timestamp=`: the first offset whose timestamp is at or after it
    /// (`null` if none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub offset: Option<Option<u64>>,
}

/// A broker in `GET /v1/metadata`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetadataBroker {
    pub id: BrokerId,
    pub url: String,
    pub rack: Option<String>,
    pub fenced: bool,
}

/// A partition in `GET /v1/metadata`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetadataPartition {
    #[schema(value_type = u32)]
    pub partition: PartitionId,
    pub leader: Option<BrokerId>,
    pub leader_url: Option<String>,
    #[schema(value_type = u32)]
    pub leader_epoch: LeaderEpoch,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
}

/// A topic in `GET /v1/metadata`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetadataTopic {
    pub topic: String,
    pub topic_id: String,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<MetadataPartition>,
}

/// `GET /v1/metadata`: a broker's cached view.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetadataResponse {
    pub cluster_id: Option<String>,
    pub broker_id: Option<BrokerId>,
    pub metadata_offset: u64,
    pub brokers: Vec<MetadataBroker>,
    pub topics: Vec<MetadataTopic>,
}

/// Keeps an explicit `null` distinguishable from a missing field.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Bytes of a key or value given as JSON (`text`) or base64 (`b64`); `None` = null.
pub fn bytes_from_json(
    field: &str,
    text: Option<&Value>,
    b64: Option<&str>,
) -> Result<Option<Vec<u8>>, String> {
    match (text, b64) {
        (Some(v), Some(_)) if !v.is_null() => {
            Err(format!("give either {field} or {field}_b64, not both"))
        }
        (_, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(Some)
            .map_err(|e| format!("{field}_b64 is not valid base64: {e}")),
        (None, None) | (Some(Value::Null), None) => Ok(None),
        (Some(Value::String(s)), None) => Ok(Some(s.as_bytes().to_vec())),
        (Some(other), None) => Ok(Some(other.to_string().into_bytes())),
    }
}

/// `(text, base64)`: text when the bytes are UTF-8 and escaping their control
/// characters for JSON costs no more than base64 would; base64 otherwise.
///
/// Without the size rule a value of control bytes (valid UTF-8) would come back
/// six times its size, one `\u00XX` per byte.
pub fn bytes_to_json(bytes: Option<&[u8]>) -> (Option<String>, Option<String>) {
    match bytes {
        None => (None, None),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if escaped_len(b) <= b64_len(b.len()) => (Some(s.to_string()), None),
            _ => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(b)),
            ),
        },
    }
}

/// Length of `text` in a JSON string once its control characters are escaped
/// (`\n` and kin take 2 bytes, the rest `\u00XX` 6). Quotes and backslashes are
/// not counted: text full of them is still text a person wants to read.
fn escaped_len(text: &[u8]) -> usize {
    text.iter()
        .map(|&c| match c {
            b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// A record header: name and value bytes (`None` = null).
pub type Header = (String, Option<Vec<u8>>);

/// Parses `headers` (object or array form) into ordered `(name, bytes)` pairs.
pub fn headers_from_json(v: Option<&Value>) -> Result<Vec<Header>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), bytes_from_json("header value", Some(v), None)?)))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|h| {
                let key = h
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| "each header needs a string \"key\"".to_string())?;
                let b64 = match h.get("value_b64") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(_) => return Err("header value_b64 must be a string".to_string()),
                };
                Ok((
                    key.to_string(),
                    bytes_from_json("header value", h.get("value"), b64)?,
                ))
            })
            .collect(),
        Some(_) => Err("headers must be an object or an array of {key, value}".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_map_to_bytes_as_documented() {
        assert_eq!(
            bytes_from_json("value", Some(&json!("héllo")), None).unwrap(),
            Some("héllo".as_bytes().to_vec())
        );
        assert_eq!(
            bytes_from_json("value", Some(&json!({"a": [1, 2]})), None).unwrap(),
            Some(br#"{"a":[1,2]}"#.to_vec())
        );
        assert_eq!(
            bytes_from_json("value", Some(&json!(null)), None).unwrap(),
            None
        );
        assert_eq!(
            bytes_from_json("value", None, Some("AP8=")).unwrap(),
            Some(vec![0, 255])
        );
        assert!(bytes_from_json("value", Some(&json!("x")), Some("AA==")).is_err());
        assert!(bytes_from_json("value", None, Some("***")).is_err());
    }

    #[test]
    fn bytes_round_trip_through_text_or_base64() {
        for b in [b"plain".to_vec(), vec![0, 159, 146, 150], vec![]] {
            let (text, b64) = bytes_to_json(Some(&b));
            let back =
                bytes_from_json("v", text.map(Value::String).as_ref(), b64.as_deref()).unwrap();
            assert_eq!(back, Some(b));
        }
    }

    #[test]
    fn missing_and_null_values_differ() {
        let missing: ProduceRecord = serde_json::from_str(r#"{"key": "k"}"#).unwrap();
        let null: ProduceRecord = serde_json::from_str(r#"{"value": null}"#).unwrap();
        assert_eq!(missing.value, None);
        assert_eq!(null.value, Some(Value::Null));
    }

    #[test]
    fn acks_forms() {
        assert_eq!(Acks::parse(None).unwrap(), Acks::All);
        assert_eq!(Acks::parse(Some(&json!("1"))).unwrap(), Acks::Leader);
        assert_eq!(Acks::parse(Some(&json!(-1))).unwrap(), Acks::All);
        assert_eq!(Acks::parse(Some(&json!(0))).unwrap(), Acks::None);
        assert!(Acks::parse(Some(&json!("2"))).is_err());
    }

    #[test]
    fn control_bytes_come_back_as_base64_when_that_is_smaller() {
        let controls = vec![1u8; 300];
        let (text, b64) = bytes_to_json(Some(&controls));
        assert_eq!(text, None);
        assert_eq!(b64.as_deref().map(str::len), Some(400));
        // Ordinary text, newlines and quotes included, stays readable.
        let prose = b"line one\nline \"two\"\n";
        assert_eq!(
            bytes_to_json(Some(prose)).0.as_deref(),
            std::str::from_utf8(prose).ok()
        );
        let json_value = br#"["a","b",{"c":"d"}]"#;
        assert!(bytes_to_json(Some(json_value)).0.is_some());
    }

    #[test]
    fn repeated_header_names_keep_every_header_in_order() {
        let stored = vec![
            ("trace".to_string(), b"a".to_vec()),
            ("bin".to_string(), vec![0, 255]),
            ("trace".to_string(), b"b".to_vec()),
        ];
        let r = FetchedRecord::from_parts(0, 0, None, Some(b"v"), &stored);
        assert_eq!(r.headers.get("trace"), Some(&Some("b".to_string())));
        assert_eq!(r.headers_b64.get("bin").map(String::as_str), Some("AP8="));
        let list = r.header_list.as_ref().expect("a name repeats");
        assert_eq!(list.len(), 3);
        let back = r.header_bytes();
        let expected: Vec<Header> = stored.into_iter().map(|(k, v)| (k, Some(v))).collect();
        assert_eq!(back, expected);
        // Through JSON and back, the order survives.
        let json = serde_json::to_value(&r).unwrap();
        let parsed: FetchedRecord = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.header_bytes(), expected);
    }

    #[test]
    fn unique_header_names_need_no_list() {
        let stored = vec![
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), vec![0xff]),
        ];
        let r = FetchedRecord::from_parts(0, 0, None, None, &stored);
        assert!(r.header_list.is_none());
        assert!(!serde_json::to_string(&r).unwrap().contains("header_list"));
        assert_eq!(r.header_bytes().len(), 2);
    }

    #[test]
    fn headers_in_both_forms() {
        let h = headers_from_json(Some(&json!({"a": "1", "b": null}))).unwrap();
        assert_eq!(
            h,
            vec![("a".into(), Some(b"1".to_vec())), ("b".into(), None)]
        );
        let h = headers_from_json(Some(&json!([{"key": "k", "value_b64": "AA=="}]))).unwrap();
        assert_eq!(h, vec![("k".into(), Some(vec![0]))]);
        assert!(headers_from_json(Some(&json!(3))).is_err());
    }
}

/// One committed offset in `POST /v1/groups/{group}/offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffsetCommit {
    pub topic: String,
    #[schema(value_type = u32)]
    pub partition: PartitionId,
    /// The next offset the group will read.
    pub offset: u64,
    #[serde(default)]
    pub metadata: Option<String>,
}

/// `POST /v1/groups/{group}/offsets`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffsetCommitRequest {
    pub offsets: Vec<OffsetCommit>,
    /// The committing group member; without it the commit is a standalone
    /// one, refused while the group has members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// The member's epoch from its last heartbeat answer; a commit with
    /// another epoch is refused (`STALE_MEMBER_EPOCH` / `FENCED_MEMBER_EPOCH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_epoch: Option<u32>,
}

/// One committed offset as `GET /v1/groups/{group}/offsets` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommittedOffset {
    pub topic: String,
    #[schema(value_type = u32)]
    pub partition: PartitionId,
    pub offset: u64,
    pub metadata: Option<String>,
    pub commit_timestamp: i64,
    /// High watermark minus the committed offset, when the answering broker knows the HW.
    pub lag: Option<u64>,
}

/// `GET /v1/groups/{group}/offsets` (and the answer to a commit).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupOffsetsResponse {
    pub group: String,
    pub offsets: Vec<CommittedOffset>,
}
