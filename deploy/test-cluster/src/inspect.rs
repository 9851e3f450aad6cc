//! Looking at a cluster from outside, the way several checkers need to: who
//! leads a partition, and the bytes a replica holds on disk.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The leader URL of `topic`-`partition` as the first reachable broker of
/// `brokers` sees it (`None` if none answers or none knows a leader).
pub async fn find_leader(
    http: &reqwest::Client,
    brokers: &[String],
    topic: &str,
    partition: u32,
) -> Option<String> {
    for b in brokers {
        let Ok(r) = http
            .get(format!("{b}/v1/metadata?topics={topic}"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
        else {
            continue;
        };
        let Ok(v) = r.json::<Value>().await else {
            continue;
        };
        let parts = v["topics"][0]["partitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let url = parts
            .iter()
            .find(|p| p["partition"].as_u64() == Some(u64::from(partition)))
            .or(parts.get(partition as usize))
            .and_then(|p| p["leader_url"].as_str());
        if let Some(url) = url {
            return Some(url.to_string());
        }
    }
    None
}

/// Every `.log` segment's bytes in a partition directory, in offset order
/// (segment names are zero-padded base offsets); empty if it cannot be read.
pub fn segment_bytes(partition_dir: &Path) -> Vec<u8> {
    let mut segs: Vec<_> = std::fs::read_dir(partition_dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    segs.sort();
    segs.iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}
