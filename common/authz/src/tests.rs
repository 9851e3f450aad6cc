//! The authorizer's semantics, one rule per test (Kafka's StandardAuthorizer).

use super::*;
use ferry_common::security::{AclBinding, PatternType};
use std::sync::Arc;
use AclOperation::*;
use AclPermission::*;
use PatternType::*;
use ResourceType::*;

fn acl(
    t: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    host: &str,
    op: AclOperation,
    perm: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type: t,
        resource_name: name.into(),
        pattern_type: pattern,
        principal: principal.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn topic(
    name: &str,
    pattern: PatternType,
    who: &str,
    op: AclOperation,
    perm: AclPermission,
) -> AclBinding {
    acl(Topic, name, pattern, who, "*", op, perm)
}

fn settings(allow_everyone: bool, supers: &[&str]) -> AuthorizerSettings {
    AuthorizerSettings {
        kind: AuthorizerKind::Acl,
        super_users: supers.iter().map(|s| s.to_string()).collect(),
        allow_everyone_if_no_acl_found: allow_everyone,
    }
}

fn authz(acls: &[AclBinding]) -> Authorizer {
    Authorizer::new(&settings(false, &["User:admin"]), AclIndex::new(acls))
}

const HOST: &str = "10.0.0.7";

fn allowed(a: &Authorizer, who: &str, t: ResourceType, name: &str, op: AclOperation) -> bool {
    allowed_from(a, who, HOST, t, name, op)
}

fn allowed_from(
    a: &Authorizer,
    who: &str,
    host: &str,
    t: ResourceType,
    name: &str,
    op: AclOperation,
) -> bool {
    let p: Principal = who.parse().unwrap();
    a.allows(&Action {
        principal: &p,
        host: host.parse().ok(),
        resource_type: t,
        resource_name: name,
        operation: op,
    })
}

#[test]
fn authorizer_none_allows_everything() {
    let a = Authorizer::new(&AuthorizerSettings::default(), AclIndex::default());
    assert!(!a.enabled());
    assert!(allowed(&a, "User:ANONYMOUS", Topic, "t", Write));
    let deny = [topic("t", Literal, "User:*", All, Deny)];
    let a = Authorizer::new(&AuthorizerSettings::default(), AclIndex::new(&deny));
    assert!(allowed(&a, "User:ANONYMOUS", Topic, "t", Write));
}

#[test]
fn without_acls_only_super_users_pass_unless_everyone_is_allowed() {
    let a = authz(&[]);
    assert!(!allowed(&a, "User:ANONYMOUS", Topic, "t", Write));
    assert!(allowed(&a, "User:admin", Topic, "t", Write));
    assert!(allowed(&a, "User:admin", Cluster, "ferry-cluster", Alter));
    let open = Authorizer::new(&settings(true, &[]), AclIndex::default());
    assert!(allowed(&open, "User:ANONYMOUS", Topic, "t", Write));
    assert_eq!(
        open.decide(&Action {
            principal: &Principal::anonymous(),
            host: None,
            resource_type: Topic,
            resource_name: "t",
            operation: Write,
        }),
        Rule::NoAclFound
    );
}

#[test]
fn allow_everyone_applies_only_to_resources_no_acl_names() {
    // Bob's ACL on `t` means the resource has ACLs: Alice is denied even
    // with allow_everyone_if_no_acl_found; `u` has none, so she may use it.
    let acls = [topic("t", Literal, "User:bob", Read, Allow)];
    let a = Authorizer::new(&settings(true, &[]), AclIndex::new(&acls));
    assert!(!allowed(&a, "User:alice", Topic, "t", Read));
    assert!(allowed(&a, "User:alice", Topic, "u", Read));
    assert!(allowed(&a, "User:bob", Topic, "t", Read));
    // A PREFIXED or wildcard ACL names every resource it covers.
    let acls = [topic("orders-", Prefixed, "User:bob", Read, Allow)];
    let a = Authorizer::new(&settings(true, &[]), AclIndex::new(&acls));
    assert!(!allowed(&a, "User:alice", Topic, "orders-eu", Read));
    assert!(allowed(&a, "User:alice", Topic, "order", Read));
}

#[test]
fn super_users_bypass_even_a_deny() {
    let a = authz(&[topic("*", Literal, "User:*", All, Deny)]);
    assert!(allowed(&a, "User:admin", Topic, "t", Write));
    assert!(!allowed(&a, "User:alice", Topic, "t", Write));
}

#[test]
fn a_matching_deny_wins_over_any_allow() {
    let acls = [
        topic("orders-", Prefixed, "User:alice", Write, Allow),
        topic("orders-secret", Literal, "User:alice", Write, Deny),
    ];
    let a = authz(&acls);
    assert!(allowed(&a, "User:alice", Topic, "orders-eu", Write));
    assert!(!allowed(&a, "User:alice", Topic, "orders-secret", Write));
    // The literal deny names exactly one topic.
    assert!(allowed(&a, "User:alice", Topic, "orders-secret2", Write));
    // Deny through the wildcard principal hits Alice too.
    let acls = [
        topic("t", Literal, "User:alice", All, Allow),
        topic("t", Literal, "User:*", Write, Deny),
    ];
    let a = authz(&acls);
    assert!(!allowed(&a, "User:alice", Topic, "t", Write));
    assert!(allowed(&a, "User:alice", Topic, "t", Read));
}

#[test]
fn literal_is_exact_prefixed_is_a_prefix_and_star_is_every_name() {
    let a = authz(&[
        topic("orders", Literal, "User:alice", Read, Allow),
        topic("pay-", Prefixed, "User:alice", Read, Allow),
        topic("*", Literal, "User:bob", Read, Allow),
    ]);
    assert!(allowed(&a, "User:alice", Topic, "orders", Read));
    assert!(!allowed(&a, "User:alice", Topic, "orders2", Read));
    assert!(!allowed(&a, "User:alice", Topic, "order", Read));
    assert!(allowed(&a, "User:alice", Topic, "pay-", Read));
    assert!(allowed(&a, "User:alice", Topic, "pay-eu-1", Read));
    assert!(!allowed(&a, "User:alice", Topic, "pay", Read));
    assert!(allowed(&a, "User:bob", Topic, "anything", Read));
    // Resource types are separate: a topic ACL says nothing about a group.
    assert!(!allowed(&a, "User:bob", Group, "anything", Read));
}

#[test]
fn every_matching_prefix_is_found_among_many() {
    // Prefixes that sort between the matching ones must not hide them.
    let mut acls = vec![topic("a", Prefixed, "User:alice", Read, Allow)];
    for p in ["ab", "abd", "abca", "abc-", "b", "aa", "abcd", "abcdzz"] {
        acls.push(topic(p, Prefixed, "User:bob", Read, Allow));
    }
    acls.push(topic("abcde", Prefixed, "User:carol", Read, Allow));
    let a = authz(&acls);
    assert!(allowed(&a, "User:alice", Topic, "abcdef", Read));
    assert!(allowed(&a, "User:bob", Topic, "abcdef", Read));
    assert!(allowed(&a, "User:carol", Topic, "abcdef", Read));
    assert!(!allowed(&a, "User:carol", Topic, "abcdf", Read));
    let mut seen = Vec::new();
    a.index().for_each_match(Topic, "abcdef", |e| {
        seen.push(e.binding.resource_name.clone());
        true
    });
    seen.sort();
    assert_eq!(seen, ["a", "ab", "abcd", "abcde"]);
    // Non-ASCII names walk char boundaries.
    let a = authz(&[
        topic("é-", Prefixed, "User:alice", Read, Allow),
        topic("èx", Prefixed, "User:alice", Read, Allow),
    ]);
    assert!(allowed(&a, "User:alice", Topic, "é-1", Read));
    assert!(!allowed(&a, "User:alice", Topic, "éx", Read));
}

#[test]
fn wildcard_principal_and_host() {
    let a = authz(&[
        topic("t", Literal, "User:*", Read, Allow),
        acl(Topic, "h", Literal, "User:alice", "10.0.0.1", Read, Allow),
    ]);
    assert!(allowed(&a, "User:anyone", Topic, "t", Read));
    assert!(allowed(&a, "User:ANONYMOUS", Topic, "t", Read));
    assert!(allowed_from(&a, "User:alice", "10.0.0.1", Topic, "h", Read));
    assert!(!allowed_from(
        &a,
        "User:alice",
        "10.0.0.2",
        Topic,
        "h",
        Read
    ));
    // An IPv4 client seen as IPv4-mapped IPv6 is the same host.
    assert!(allowed_from(
        &a,
        "User:alice",
        "::ffff:10.0.0.1",
        Topic,
        "h",
        Read
    ));
    // A principal of another type does not match `User:*`.
    assert!(!allowed(&a, "Group:x", Topic, "t", Read));
}

#[test]
fn read_write_delete_alter_imply_describe_only_when_allowed() {
    for op in [Read, Write, Delete, Alter] {
        let a = authz(&[topic("t", Literal, "User:alice", op, Allow)]);
        assert!(allowed(&a, "User:alice", Topic, "t", Describe), "{op:?}");
        assert!(allowed(&a, "User:alice", Topic, "t", op));
        assert!(!allowed(&a, "User:alice", Topic, "t", Create), "{op:?}");
    }
    for op in [
        Create,
        DescribeConfigs,
        AlterConfigs,
        IdempotentWrite,
        ClusterAction,
    ] {
        let a = authz(&[topic("t", Literal, "User:alice", op, Allow)]);
        assert!(!allowed(&a, "User:alice", Topic, "t", Describe), "{op:?}");
    }
    let a = authz(&[topic("t", Literal, "User:alice", AlterConfigs, Allow)]);
    assert!(allowed(&a, "User:alice", Topic, "t", DescribeConfigs));
    assert!(!allowed(&a, "User:alice", Topic, "t", Alter));
    // All allows every operation.
    let a = authz(&[topic("t", Literal, "User:alice", All, Allow)]);
    assert!(allowed(&a, "User:alice", Topic, "t", Delete));
    // A Deny of Read does not deny Describe (implication is for Allow only).
    let a = authz(&[
        topic("t", Literal, "User:alice", All, Allow),
        topic("t", Literal, "User:alice", Read, Deny),
    ]);
    assert!(!allowed(&a, "User:alice", Topic, "t", Read));
    assert!(allowed(&a, "User:alice", Topic, "t", Describe));
    // A Deny of All denies everything.
    let a = authz(&[
        topic("t", Literal, "User:alice", Read, Allow),
        topic("t", Literal, "User:alice", All, Deny),
    ]);
    assert!(!allowed(&a, "User:alice", Topic, "t", Describe));
}

#[test]
fn refusals_name_principal_operation_resource_and_carry_the_type_code() {
    let a = authz(&[]);
    let p = Principal::user("alice");
    let err = a
        .authorize(&Action {
            principal: &p,
            host: "127.0.0.1".parse().ok(),
            resource_type: Group,
            resource_name: "g1",
            operation: Read,
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::GroupAuthorizationFailed);
    for part in ["User:alice", "Read", "Group", "'g1'", "127.0.0.1"] {
        assert!(err.message.contains(part), "{}", err.message);
    }
    assert_eq!(denial_code(Topic), ErrorCode::TopicAuthorizationFailed);
    assert_eq!(denial_code(Cluster), ErrorCode::ClusterAuthorizationFailed);
}

#[test]
fn write_on_any_topic_stands_for_idempotent_write() {
    let alice = Principal::user("alice");
    let host = HOST.parse().ok();
    let a = authz(&[topic("orders-", Prefixed, "User:alice", Write, Allow)]);
    assert!(a.allows_any(&alice, host, Topic, Write));
    assert!(!a.allows_any(&Principal::user("bob"), host, Topic, Write));
    let a = authz(&[
        topic("orders-", Prefixed, "User:alice", Write, Allow),
        topic("orders", Prefixed, "User:alice", Write, Deny),
    ]);
    assert!(!a.allows_any(&alice, host, Topic, Write));
    let a = authz(&[
        topic("orders", Literal, "User:alice", Write, Allow),
        topic("*", Literal, "User:alice", Write, Deny),
    ]);
    assert!(!a.allows_any(&alice, host, Topic, Write));
    assert!(!authz(&[]).allows_any(&alice, host, Topic, Write));
    assert!(authz(&[]).allows_any(&Principal::user("admin"), host, Topic, Write));
}

#[test]
fn the_cache_rebuilds_only_when_the_acl_set_changes() {
    let cache = AuthorizerCache::new(settings(false, &[]));
    let mut set = std::collections::BTreeSet::new();
    let first = cache.current(1, &set);
    assert!(Arc::ptr_eq(&first, &cache.current(1, &set)));
    assert!(
        Arc::ptr_eq(&first, &cache.current(2, &set)),
        "same set, new offset"
    );
    set.insert(topic("t", Literal, "User:alice", Read, Allow));
    let second = cache.current(3, &set);
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(allowed(&second, "User:alice", Topic, "t", Read));
    assert_eq!(second.index().len(), 1);
}

#[test]
fn validation_refuses_hostile_bindings() {
    let ok = topic("orders", Literal, "User:alice", Read, Allow);
    assert!(validate::binding(&ok).is_ok());
    let with = |f: &dyn Fn(&mut AclBinding)| {
        let mut b = ok.clone();
        f(&mut b);
        validate::binding(&b)
    };
    assert!(with(&|b| b.resource_name = String::new()).is_err());
    assert!(with(&|b| b.resource_name = "x".repeat(256)).is_err());
    assert!(with(&|b| b.resource_name = "a\u{0}b".into()).is_err());
    assert!(with(&|b| b.principal = "alice".into()).is_err());
    assert!(with(&|b| b.principal = "Group:x".into()).is_err());
    assert!(with(&|b| b.principal = "User:*".into()).is_ok());
    assert!(with(&|b| b.host = "example.com".into()).is_err());
    assert!(with(&|b| b.host = "::1".into()).is_ok());
    assert!(with(&|b| {
        b.resource_name = "*".into();
        b.pattern_type = Prefixed;
    })
    .is_err());
    assert!(with(&|b| b.resource_type = Cluster).is_err());
    assert!(with(&|b| {
        b.resource_type = Cluster;
        b.resource_name = ferry_common::acls::CLUSTER_RESOURCE_NAME.into();
    })
    .is_ok());
    assert!(settings(false, &["admin"]).validate().is_err());
    assert!(settings(false, &["User:admin"]).validate().is_ok());
}

#[test]
fn the_authorizer_kind_reads_as_config_spells_it() {
    let k: AuthorizerKind = serde_json::from_str("\"acl\"").unwrap();
    assert_eq!(k, AuthorizerKind::Acl);
    assert!(serde_json::from_str::<AuthorizerKind>("\"ACL!\"").is_err());
}
