//! The checks after the schedule, and the table they print:
//! - every acknowledged value is read back exactly once, at its acknowledged
//!   offset, and each producer's acknowledged offsets on a partition grow in
//!   acknowledgement order (lost / duplicated / moved / reordered);
//! - no consumer was served a record that is not in the final log at that
//!   offset (phantom: read above the HW, then truncated);
//! - replicas hold identical bytes (divergent bytes, from the segment files
//!   once the cluster is stopped with every replica at LEO = HW);
//! - committed group offsets never moved back; every ISR full in time.

use crate::faults::{Fault, Kind};
use crate::load::Ack;
use anyhow::{bail, Result};
use ferry_client::{FetchLimits, PartitionClient};
use ferry_test_cluster::segment_bytes;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

/// `(offset, value)` of every record of one partition, from offset 0.
pub type Log = Vec<(u64, String)>;

/// Reads every partition from offset 0 up to its HW with plain fetches.
pub async fn read_back(
    brokers: Vec<String>,
    topic: &str,
    partitions: u32,
) -> Result<BTreeMap<u32, Log>> {
    let client = PartitionClient::new(brokers, Duration::from_secs(10));
    let limits = FetchLimits {
        max_records: 1_000,
        max_bytes: None,
        max_wait_ms: None,
    };
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut log = Vec::new();
        let mut offset = 0u64;
        loop {
            match client.fetch(topic, p, offset, limits).await {
                Ok(r) => {
                    for rec in r.records {
                        log.push((rec.offset, rec.value.unwrap_or_default()));
                    }
                    if r.next_offset >= r.high_watermark || r.next_offset == offset {
                        break;
                    }
                    offset = r.next_offset;
                }
                Err(e) if Instant::now() > deadline => {
                    bail!("reading partition {p} at {offset}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        out.insert(p, log);
    }
    Ok(out)
}

/// The verdict on one partition.
#[derive(Debug, Default, Clone)]
pub struct PartitionReport {
    pub partition: u32,
    pub records: usize,
    pub acks: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub moved: usize,
    pub reordered: usize,
    pub phantom: usize,
    pub divergent_bytes: u64,
    pub longest_unavailable: Duration,
}

impl PartitionReport {
    pub fn violations(&self) -> usize {
        self.lost
            + self.duplicated
            + self.moved
            + self.reordered
            + self.phantom
            + self.divergent_bytes as usize
    }
}

/// Compares the history with the logs read back.
pub fn analyse(
    acks: &[Ack],
    consumed: &[(u32, u64, String)],
    logs: &BTreeMap<u32, Log>,
    started: Instant,
) -> Vec<PartitionReport> {
    // value -> every (partition, offset) it was read back at.
    let mut found: HashMap<&str, Vec<(u32, u64)>> = HashMap::new();
    for (p, log) in logs {
        for (o, v) in log {
            found.entry(v.as_str()).or_default().push((*p, *o));
        }
    }
    let mut reports: BTreeMap<u32, PartitionReport> = logs
        .iter()
        .map(|(p, log)| {
            (
                *p,
                PartitionReport {
                    partition: *p,
                    records: log.len(),
                    ..Default::default()
                },
            )
        })
        .collect();
    for places in found.values().filter(|v| v.len() > 1) {
        for (p, _) in &places[1..] {
            reports.entry(*p).or_default().duplicated += 1;
        }
    }
    let mut last_offset: HashMap<(usize, u32), u64> = HashMap::new();
    let mut last_at: HashMap<u32, Instant> = HashMap::new();
    for a in acks {
        let r = reports.entry(a.partition).or_default();
        r.partition = a.partition;
        r.acks += 1;
        match found.get(a.value.as_str()).map(Vec::as_slice) {
            None | Some([]) => r.lost += 1,
            Some([(p, o), ..]) if (*p, *o) != (a.partition, a.offset) => r.moved += 1,
            Some(_) => {}
        }
        if let Some(prev) = last_offset.insert((a.producer, a.partition), a.offset) {
            if a.offset <= prev {
                r.reordered += 1;
            }
        }
        let prev = last_at.insert(a.partition, a.at).unwrap_or(started);
        r.longest_unavailable = r
            .longest_unavailable
            .max(a.at.saturating_duration_since(prev));
    }
    let by_offset: HashMap<(u32, u64), &str> = logs
        .iter()
        .flat_map(|(p, log)| log.iter().map(move |(o, v)| ((*p, *o), v.as_str())))
        .collect();
    for (p, o, v) in consumed {
        if by_offset.get(&(*p, *o)) != Some(&v.as_str()) {
            reports.entry(*p).or_default().phantom += 1;
        }
    }
    reports.into_values().collect()
}

/// Per partition, bytes in which the replicas' segment files differ from the
/// longest replica's (differing bytes in the common prefix plus the length
/// difference); read from `<data dir>/logs/<topic>-<p>/*.log` in offset order.
pub fn divergence(data_dirs: &[&Path], topic: &str, partitions: u32) -> BTreeMap<u32, u64> {
    (0..partitions)
        .map(|p| {
            let logs: Vec<Vec<u8>> = data_dirs
                .iter()
                .map(|d| segment_bytes(&d.join("logs").join(format!("{topic}-{p}"))))
                .collect();
            let longest = logs
                .iter()
                .max_by_key(|l| l.len())
                .cloned()
                .unwrap_or_default();
            let diff: u64 = logs
                .iter()
                .map(|l| {
                    let differing = l.iter().zip(&longest).filter(|(a, b)| a != b).count();
                    (differing + (longest.len() - l.len())) as u64
                })
                .sum();
            (p, diff)
        })
        .collect()
}

/// Everything the table shows.
pub struct Summary<'a> {
    pub seed: u64,
    pub ran: Duration,
    pub faults: &'a [Fault],
    pub partitions: &'a [PartitionReport],
    pub failed_sends: u64,
    pub consumed: usize,
    pub commit_samples: u64,
    pub offset_regressions: &'a [(u32, u64, u64)],
    /// How long after the schedule every ISR was full; `None`: not within the deadline.
    pub healed_in: Option<Duration>,
    pub heal_deadline: Duration,
    /// Whether the replicas reached LEO = HW everywhere before the byte comparison.
    pub replicas_synced: bool,
}

impl Summary<'_> {
    pub fn violations(&self) -> usize {
        self.partitions
            .iter()
            .map(PartitionReport::violations)
            .sum::<usize>()
            + self.offset_regressions.len()
            + usize::from(self.healed_in.is_none())
            + usize::from(!self.replicas_synced)
    }

    /// The report, as printed at the end of a run.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
        for f in self.faults {
            *by_kind.entry(f.kind).or_default() += 1;
        }
        s += &format!(
            "ferry-nemesis seed {} ran {:.0}s: {} faults\n",
            self.seed,
            self.ran.as_secs_f64(),
            self.faults.len()
        );
        for (k, n) in by_kind {
            s += &format!("  {:<24}{n}\n", k.name());
        }
        s += "\npartition  records    acks  lost  dup  moved  reordered  phantom  divergent_bytes  longest_unavailable\n";
        let mut total = PartitionReport::default();
        for r in self.partitions {
            s += &row(&r.partition.to_string(), r);
            total.records += r.records;
            total.acks += r.acks;
            total.lost += r.lost;
            total.duplicated += r.duplicated;
            total.moved += r.moved;
            total.reordered += r.reordered;
            total.phantom += r.phantom;
            total.divergent_bytes += r.divergent_bytes;
            total.longest_unavailable = total.longest_unavailable.max(r.longest_unavailable);
        }
        s += &row("all", &total);
        s += &format!(
            "\nsends not acknowledged (failed or outcome unknown): {}\nrecords consumed by the group: {}\n",
            self.failed_sends, self.consumed
        );
        s += &format!(
            "committed group offsets: {} samples, {} moved back {:?}\n",
            self.commit_samples,
            self.offset_regressions.len(),
            &self.offset_regressions[..self.offset_regressions.len().min(5)]
        );
        s += &match self.healed_in {
            Some(d) => format!(
                "healed: every ISR full {:.1}s after the schedule (deadline {}s)\n",
                d.as_secs_f64(),
                self.heal_deadline.as_secs()
            ),
            None => format!(
                "NOT HEALED: some ISR still not full {}s after the schedule\n",
                self.heal_deadline.as_secs()
            ),
        };
        if !self.replicas_synced {
            s += "REPLICAS NOT IN SYNC: some replica never reached the leader's LEO = HW\n";
        }
        let v = self.violations();
        s += &if v == 0 {
            "RESULT: OK, no violation\n".to_string()
        } else {
            format!("RESULT: {v} VIOLATIONS\n")
        };
        s
    }
}

fn row(name: &str, r: &PartitionReport) -> String {
    format!(
        "{name:>9}  {:>7}  {:>6}  {:>4}  {:>3}  {:>5}  {:>9}  {:>7}  {:>15}  {:>18.1}s\n",
        r.records,
        r.acks,
        r.lost,
        r.duplicated,
        r.moved,
        r.reordered,
        r.phantom,
        r.divergent_bytes,
        r.longest_unavailable.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(producer: usize, partition: u32, offset: u64, value: &str, at: Instant) -> Ack {
        Ack {
            producer,
            partition,
            offset,
            value: value.into(),
            at,
        }
    }

    #[test]
    fn a_clean_history_has_no_violation() {
        let t = Instant::now();
        let acks = vec![
            ack(0, 0, 0, "a", t),
            ack(1, 0, 1, "b", t),
            ack(0, 0, 2, "c", t),
        ];
        let logs = BTreeMap::from([(0, vec![(0, "a".into()), (1, "b".into()), (2, "c".into())])]);
        let r = analyse(&acks, &[(0, 1, "b".into())], &logs, t);
        assert_eq!(r[0].violations(), 0, "{r:?}");
        assert_eq!(r[0].acks, 3);
    }

    #[test]
    fn lost_duplicated_moved_reordered_and_phantom_reads_are_each_counted() {
        let t = Instant::now();
        let acks = vec![
            ack(0, 0, 0, "a", t),
            ack(0, 0, 1, "lost", t),
            ack(1, 0, 5, "moved", t),
            ack(1, 0, 3, "dup", t),
        ];
        let logs = BTreeMap::from([(
            0,
            vec![
                (0, "a".into()),
                (1, "other".into()),
                (2, "moved".into()),
                (3, "dup".into()),
                (4, "dup".into()),
            ],
        )]);
        let consumed = vec![(0, 1, "lost".into())];
        let r = &analyse(&acks, &consumed, &logs, t)[0];
        assert_eq!(
            (r.lost, r.duplicated, r.moved, r.reordered, r.phantom),
            (1, 1, 1, 1, 1),
            "{r:?}"
        );
    }

    #[test]
    fn divergence_counts_differing_and_missing_bytes() {
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let contents: [&[u8]; 3] = [b"abcdef", b"abcdef", b"abXd"];
        for (d, c) in dirs.iter().zip(contents) {
            let p = d.path().join("logs/t-0");
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("00000000000000000000.log"), c).unwrap();
        }
        let paths: Vec<&Path> = dirs.iter().map(|d| d.path()).collect();
        assert_eq!(divergence(&paths, "t", 1)[&0], 1 + 2);
    }
}
