//! The HW checkpoint file, `DIR/high-watermark`: `HW TOPIC_ID`, replaced
//! atomically and durably. The topic id names the incarnation that wrote
//! it, so a re-created topic never trusts a deleted one's HW.

use crate::storage::write_durable;
use std::path::Path;

const FILE: &str = "high-watermark";

/// The checkpointed HW of incarnation `topic_id` in `dir`; 0 when missing,
/// unreadable or written by another incarnation (0 is always safe: it only
/// waits for the leader's HW again). A bare number is the older format.
pub fn read(dir: &Path, topic_id: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        return 0;
    };
    let mut fields = text.split_whitespace();
    let hw = fields.next().and_then(|f| f.parse::<u64>().ok());
    match (hw, fields.next()) {
        (Some(hw), None) => hw,
        (Some(hw), Some(id)) if id == topic_id => hw,
        (Some(_), Some(id)) => {
            tracing::warn!(dir = %dir.display(), written_by = id, "ignoring the HW checkpoint of another topic incarnation");
            0
        }
        (None, _) => 0,
    }
}

/// Writes `hw` for incarnation `topic_id` into `dir` (blocking), through
/// [`write_durable`]: temp file, fsync, rename, directory fsync.
pub fn write(dir: &Path, hw: u64, topic_id: &str) -> std::io::Result<()> {
    write_durable(&dir.join(FILE), format!("{hw} {topic_id}\n").as_bytes())
        .map_err(std::io::Error::other)
}
