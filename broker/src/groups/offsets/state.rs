//! Group state on a coordinator partition: appending a group's state
//! records and installing the new state, and the partitions led here.

use super::GroupOffsets;
use crate::clock::now_ms;
use crate::error::BrokerError;
use crate::groups::membership::Group;
use crate::groups::records::StateRecord;
use crate::groups::routing::OFFSETS_TOPIC;
use crate::partition::Partition;
use crate::storage::RecordIn;
use ferry_common::records::Acks;
use ferry_common::TopicName;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn state_record(now: i64, (key, value): StateRecord) -> RecordIn {
    RecordIn {
        timestamp: now,
        key: Some(key),
        value,
        headers: Vec::new(),
    }
}

impl GroupOffsets {
    /// Appends `records` (the state change of `group` to `after`, see
    /// [`crate::groups::records::changes`]) with acks=all, then makes `after` the group's
    /// state here (None: the group is gone). Call with the group's state lock held.
    /// On a failed append the state here is left as it was and the
    /// partition is reloaded on next use, since the records may be in the
    /// log after all.
    pub(crate) async fn apply_state(
        &self,
        part: &Arc<Partition>,
        group: &str,
        records: Vec<StateRecord>,
        after: Option<Group>,
    ) -> Result<(), BrokerError> {
        // Held until `after` is installed, so a compaction copy never
        // carries the state from before records already appended.
        let _appending = self.compaction.read().await;
        self.with_loaded(part, |_| ()).await?;
        if !records.is_empty() {
            let now = now_ms();
            let batch = records.into_iter().map(|r| state_record(now, r)).collect();
            let timeout = Duration::from_millis(self.node.config.produce_timeout_ms);
            let appended = self
                .appender
                .append_local(part, batch, Acks::All, timeout, None, None)
                .await;
            if let Err(e) = appended {
                self.loaded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&part.partition);
                return Err(e);
            }
        }
        self.with_loaded(part, |l| match (after, l.members.get(group)) {
            (Some(mut g), Some(now)) => {
                // Heartbeats answered meanwhile (they need no lock) still count.
                for (id, m) in g.members.iter_mut() {
                    if let Some(seen) = now.members.get(id) {
                        m.last_heartbeat = m.last_heartbeat.max(seen.last_heartbeat);
                    }
                }
                l.members.insert(group.to_string(), g);
            }
            (Some(g), None) => {
                l.members.insert(group.to_string(), g);
            }
            (None, _) => {
                l.members.remove(group);
            }
        })
        .await?;
        Ok(())
    }

    /// The `__consumer_offsets` partitions this broker leads now.
    pub(crate) fn led_partitions(&self) -> Vec<Arc<Partition>> {
        let Ok(topic) = TopicName::new(OFFSETS_TOPIC) else {
            return Vec::new();
        };
        let count = self
            .metadata
            .topic(&topic)
            .map_or(0, |t| t.partitions.len() as u32);
        (0..count)
            .filter_map(|p| self.replicas.get(&topic, p))
            .filter(|r| r.state().leader == self.node.id())
            .collect()
    }

    /// Runs `f` on the membership of every partition this broker leads and
    /// has loaded in its current leader epoch (without loading any).
    pub(crate) fn with_led_members<R>(
        &self,
        mut f: impl FnMut(&Arc<Partition>, &mut HashMap<String, Group>) -> R,
    ) -> Vec<R> {
        let led = self.led_partitions();
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        led.iter()
            .filter_map(|part| {
                let l = loaded.get_mut(&part.partition)?;
                (l.leader_epoch == part.state().leader_epoch).then(|| f(part, &mut l.members))
            })
            .collect()
    }
}
