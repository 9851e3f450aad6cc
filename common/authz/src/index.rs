//! [`AclIndex`]: the ACLs of a metadata image arranged so that one decision
//! looks at only the bindings that can apply to the resource: per resource
//! type, a hash map of LITERAL names (`*` included) and an ordered map of
//! PREFIXED names walked from the resource name downwards.

use ferry_common::acls::WILDCARD;
use ferry_common::security::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Bound;

/// One binding as the index keeps it: the principal split, the host parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) binding: AclBinding,
    /// `None`: the binding's principal is not of the form `Type:name`, so it
    /// matches nobody.
    principal: Option<(String, String)>,
    /// `None` for `*`; an unparsable host matches no client.
    host: HostPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Ip(IpAddr),
    Never,
}

impl Entry {
    fn new(binding: &AclBinding) -> Self {
        let principal = binding
            .principal
            .split_once(':')
            .map(|(k, n)| (k.to_string(), n.to_string()));
        let host = if binding.host == WILDCARD {
            HostPattern::Any
        } else {
            binding
                .host
                .parse::<IpAddr>()
                .map(|ip| HostPattern::Ip(ip.to_canonical()))
                .unwrap_or(HostPattern::Never)
        };
        Entry {
            binding: binding.clone(),
            principal,
            host,
        }
    }

    /// Kafka's principal match: the same principal, or `Type:*` of its type.
    fn principal_matches(&self, kind: &str, name: &str) -> bool {
        self.principal
            .as_ref()
            .is_some_and(|(k, n)| k == kind && (n == name || n == WILDCARD))
    }

    fn host_matches(&self, host: Option<IpAddr>) -> bool {
        match self.host {
            HostPattern::Any => true,
            HostPattern::Ip(ip) => host.is_some_and(|h| h.to_canonical() == ip),
            HostPattern::Never => false,
        }
    }

    /// What this binding says about `op` for the principal and host, or
    /// `None` when it does not apply (Kafka's `findResult`: an Allow of
    /// Read/Write/Delete/Alter implies Describe, of AlterConfigs implies
    /// DescribeConfigs; a Deny denies exactly its operation, or all).
    pub(crate) fn verdict(
        &self,
        kind: &str,
        name: &str,
        host: Option<IpAddr>,
        op: AclOperation,
    ) -> Option<AclPermission> {
        if !self.principal_matches(kind, name) || !self.host_matches(host) {
            return None;
        }
        let acl_op = self.binding.operation;
        let applies = acl_op == AclOperation::All
            || acl_op == op
            || (self.binding.permission == AclPermission::Allow && implies(acl_op, op));
        applies.then_some(self.binding.permission)
    }
}

/// Whether an Allow of `granted` also allows `wanted` (besides equality).
fn implies(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation::*;
    match wanted {
        Describe => matches!(granted, Read | Write | Delete | Alter),
        DescribeConfigs => granted == AlterConfigs,
        _ => false,
    }
}

#[derive(Debug, Default, Clone)]
struct TypeIndex {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: BTreeMap<String, Vec<Entry>>,
}

/// The ACLs of one metadata image, indexed for [`AclIndex::for_each_match`].
#[derive(Debug, Default, Clone)]
pub struct AclIndex {
    by_type: HashMap<ResourceType, TypeIndex>,
    len: usize,
}

impl AclIndex {
    pub fn new<'a>(acls: impl IntoIterator<Item = &'a AclBinding>) -> Self {
        let mut index = AclIndex::default();
        for b in acls {
            let t = index.by_type.entry(b.resource_type).or_default();
            let map_entry = match b.pattern_type {
                PatternType::Literal => t.literal.entry(b.resource_name.clone()).or_default(),
                PatternType::Prefixed => t.prefixed.entry(b.resource_name.clone()).or_default(),
            };
            map_entry.push(Entry::new(b));
            index.len += 1;
        }
        index
    }

    /// How many bindings the index holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with every binding whose resource pattern matches the
    /// resource (LITERAL exact or `*`, PREFIXED of which `name` starts with),
    /// whatever its principal, host or operation, until `f` answers false.
    pub(crate) fn for_each_match(
        &self,
        resource_type: ResourceType,
        name: &str,
        mut f: impl FnMut(&Entry) -> bool,
    ) {
        let Some(t) = self.by_type.get(&resource_type) else {
            return;
        };
        let literal = [Some(name), (name != WILDCARD).then_some(WILDCARD)];
        for key in literal.into_iter().flatten() {
            for e in t.literal.get(key).into_iter().flatten() {
                if !f(e) {
                    return;
                }
            }
        }
        let mut upper = Bound::Included(name);
        while let Some((k, entries)) = t
            .prefixed
            .range::<str, _>((Bound::Unbounded, upper))
            .next_back()
        {
            if name.starts_with(k.as_str()) {
                for e in entries {
                    if !f(e) {
                        return;
                    }
                }
                // Every shorter prefix of `name` sorts below `k`.
                upper = Bound::Excluded(&name[..k.len()]);
            } else {
                // No key lies between `k` and `upper`, so no prefix of
                // `name` longer than the part it shares with `k` is a key.
                upper = Bound::Included(&name[..common_prefix(k, name)]);
            }
        }
    }

    /// Every binding of `resource_type`, for decisions over a whole type.
    pub(crate) fn of_type(&self, resource_type: ResourceType) -> impl Iterator<Item = &Entry> {
        self.by_type.get(&resource_type).into_iter().flat_map(|t| {
            t.literal
                .values()
                .flatten()
                .chain(t.prefixed.values().flatten())
        })
    }
}

/// The byte length of the longest common prefix of `a` and `b`, on a char
/// boundary of both.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or_else(|| a.len().min(b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_stops_on_char_boundaries() {
        assert_eq!(common_prefix("orders", "ordx"), 3);
        assert_eq!(common_prefix("ab", "abc"), 2);
        assert_eq!(common_prefix("é1", "é2"), 2);
        assert_eq!(common_prefix("é", "è"), 0);
        assert_eq!(common_prefix("", "x"), 0);
    }
}
