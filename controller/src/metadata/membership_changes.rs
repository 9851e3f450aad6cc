//! How broker membership changes move partitions: fencing, unfencing, a new
//! incarnation replacing the registered one (with the unclean-shutdown
//! withdrawal of KIP-966), and preferred-leader elections. The per-partition
//! rules are in [`super::partition_change`]; this applies them to every topic.

use super::controller_state::ControllerState;
use super::partition_change::{
    elect_preferred, on_broker_fenced, on_broker_unfenced, on_unclean_restart, Rules,
};
use ferry_common::metadata::{MetadataRecord, PartitionState};
use ferry_common::types::BrokerEpoch;
use ferry_common::BrokerId;

impl ControllerState {
    /// Records that fence `id` (if `epoch` is current) and move its partitions.
    pub(super) fn fence(&self, id: BrokerId, epoch: BrokerEpoch) -> Vec<MetadataRecord> {
        let Some(b) = self.image.brokers.get(&id) else {
            return vec![];
        };
        if b.epoch != epoch || b.fenced {
            return vec![];
        }
        let mut records = vec![MetadataRecord::FenceBroker {
            broker_id: id,
            epoch,
        }];
        let eligible = |x: BrokerId| self.is_unfenced(x);
        records.extend(self.partition_changes(|p, rules| on_broker_fenced(p, id, eligible, rules)));
        records
    }

    /// Records that retire broker `id`'s registered incarnation before a new
    /// one registers: fenced if it was not, and, when the new one reports an
    /// unclean shutdown, out of every ISR and ELR it may no longer deserve
    /// (see [`on_unclean_restart`]). One partition record per partition.
    pub(super) fn replace_incarnation(&self, id: BrokerId, unclean: bool) -> Vec<MetadataRecord> {
        let Some(old) = self.image.brokers.get(&id) else {
            return vec![];
        };
        if !unclean {
            return if old.fenced {
                vec![]
            } else {
                self.fence(id, old.epoch)
            };
        }
        let mut records = Vec::new();
        if !old.fenced {
            records.push(MetadataRecord::FenceBroker {
                broker_id: id,
                epoch: old.epoch,
            });
        }
        let eligible = |x: BrokerId| x != id && self.is_unfenced(x);
        records.extend(self.partition_changes(|p, rules| {
            let fenced = if old.fenced {
                None
            } else {
                on_broker_fenced(p, id, eligible, rules)
            };
            let base = fenced.as_ref().unwrap_or(p);
            on_unclean_restart(base, id, eligible, rules).or(fenced)
        }));
        records
    }

    pub(super) fn is_unfenced(&self, id: BrokerId) -> bool {
        self.image.brokers.get(&id).is_some_and(|r| !r.fenced)
    }

    /// A partition record for every partition `change` alters, in topic order.
    pub(super) fn partition_changes(
        &self,
        change: impl Fn(&PartitionState, Rules) -> Option<PartitionState>,
    ) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for t in self.image.topics.values() {
            let rules = Rules::of(&t.configs);
            for p in &t.partitions {
                if let Some(state) = change(p, rules) {
                    records.push(MetadataRecord::Partition {
                        topic: t.name.clone(),
                        state,
                    });
                }
            }
        }
        records
    }

    /// Partition records that give leadership back to in-sync preferred replicas.
    pub fn preferred_elections(&self) -> Vec<MetadataRecord> {
        let eligible = |x: BrokerId| self.image.brokers.get(&x).is_some_and(|r| !r.fenced);
        self.image
            .topics
            .values()
            .flat_map(|t| {
                t.partitions.iter().filter_map(move |p| {
                    elect_preferred(p, eligible).map(|state| MetadataRecord::Partition {
                        topic: t.name.clone(),
                        state,
                    })
                })
            })
            .collect()
    }

    pub(super) fn unfence(&self, id: BrokerId, epoch: BrokerEpoch) -> Vec<MetadataRecord> {
        let Some(b) = self.image.brokers.get(&id) else {
            return vec![];
        };
        if b.epoch != epoch || !b.fenced {
            return vec![];
        }
        let mut records = vec![MetadataRecord::UnfenceBroker {
            broker_id: id,
            epoch,
        }];
        let eligible = |x: BrokerId| x == id || self.is_unfenced(x);
        records
            .extend(self.partition_changes(|p, rules| on_broker_unfenced(p, id, eligible, rules)));
        records
    }
}
