//! `ferry acls create|list|delete`: ACL bindings, in the spirit of Kafka's
//! `kafka-acls` (`--allow-principal`, `--deny-principal`, `--operation`,
//! `--topic` / `--group` / `--cluster`, `--resource-pattern-type`).

use crate::context::Ctx;
use crate::output::print_json;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use ferry_common::acls::{AclBindingFilter, AclList, PatternTypeFilter, CLUSTER_RESOURCE_NAME};
use ferry_common::security::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

#[derive(Subcommand)]
pub enum AclsCmd {
    /// Add bindings: every principal x operation x resource given.
    Create(CreateArgs),
    /// List bindings (all, or those the resource flags select).
    List(FilterArgs),
    /// Delete the bindings the flags select.
    Delete(DeleteArgs),
}

/// The resources a command is about.
#[derive(Args)]
pub struct Resources {
    /// A topic name (repeatable).
    #[arg(long)]
    topic: Vec<String>,
    /// A consumer group id (repeatable).
    #[arg(long)]
    group: Vec<String>,
    /// A transactional id (repeatable).
    #[arg(long)]
    transactional_id: Vec<String>,
    /// The cluster itself.
    #[arg(long)]
    cluster: bool,
}

impl Resources {
    fn list(&self) -> Vec<(ResourceType, String)> {
        let mut out = Vec::new();
        let mut add = |t, names: &[String]| out.extend(names.iter().map(|n| (t, n.clone())));
        add(ResourceType::Topic, &self.topic);
        add(ResourceType::Group, &self.group);
        add(ResourceType::TransactionalId, &self.transactional_id);
        if self.cluster {
            out.push((ResourceType::Cluster, CLUSTER_RESOURCE_NAME.to_string()));
        }
        out
    }
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    resources: Resources,
    /// `User:alice` or `User:*` to allow (repeatable).
    #[arg(long)]
    allow_principal: Vec<String>,
    /// `User:mallory` or `User:*` to deny (repeatable).
    #[arg(long)]
    deny_principal: Vec<String>,
    /// Host (IP address or `*`) the allow bindings are for.
    #[arg(long, default_value = "*")]
    allow_host: String,
    /// Host (IP address or `*`) the deny bindings are for.
    #[arg(long, default_value = "*")]
    deny_host: String,
    /// Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite or All (repeatable).
    #[arg(long, required = true, value_parser = parse_operation)]
    operation: Vec<AclOperation>,
    /// literal (default) or prefixed.
    #[arg(long, default_value = "literal", value_parser = parse_pattern)]
    resource_pattern_type: PatternType,
}

#[derive(Args)]
pub struct FilterArgs {
    #[command(flatten)]
    resources: Resources,
    /// any (default: either type, exact name), literal, prefixed, or match
    /// (every binding that applies to the named resource).
    #[arg(long, default_value = "any", value_parser = parse_pattern_filter)]
    resource_pattern_type: PatternTypeFilter,
    /// Only bindings of this principal.
    #[arg(long)]
    principal: Option<String>,
}

#[derive(Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Only bindings of this operation (repeatable).
    #[arg(long, value_parser = parse_operation)]
    operation: Vec<AclOperation>,
    /// Only Allow or only Deny bindings.
    #[arg(long, value_parser = parse_permission)]
    permission: Option<AclPermission>,
    /// Needed to delete with no resource flag: every binding of the principal
    /// (or every binding at all).
    #[arg(long)]
    all: bool,
}

fn parse_operation(s: &str) -> Result<AclOperation, String> {
    let want: String = s.chars().filter(|c| *c != '_' && *c != '-').collect();
    AclOperation::EVERY
        .into_iter()
        .find(|op| format!("{op:?}").eq_ignore_ascii_case(&want))
        .ok_or_else(|| format!("unknown operation {s:?}"))
}

fn parse_pattern(s: &str) -> Result<PatternType, String> {
    match s.to_ascii_lowercase().as_str() {
        "literal" => Ok(PatternType::Literal),
        "prefixed" => Ok(PatternType::Prefixed),
        _ => Err(format!("{s:?}: use literal or prefixed")),
    }
}

fn parse_pattern_filter(s: &str) -> Result<PatternTypeFilter, String> {
    match s.to_ascii_lowercase().as_str() {
        "any" => Ok(PatternTypeFilter::Any),
        "literal" => Ok(PatternTypeFilter::Literal),
        "prefixed" => Ok(PatternTypeFilter::Prefixed),
        "match" => Ok(PatternTypeFilter::Match),
        _ => Err(format!("{s:?}: use any, literal, prefixed or match")),
    }
}

fn parse_permission(s: &str) -> Result<AclPermission, String> {
    match s.to_ascii_lowercase().as_str() {
        "allow" => Ok(AclPermission::Allow),
        "deny" => Ok(AclPermission::Deny),
        _ => Err(format!("{s:?}: use allow or deny")),
    }
}

/// Every binding `create` stands for.
fn bindings(a: &CreateArgs) -> Vec<AclBinding> {
    let who = a
        .allow_principal
        .iter()
        .map(|p| (p, &a.allow_host, AclPermission::Allow))
        .chain(
            a.deny_principal
                .iter()
                .map(|p| (p, &a.deny_host, AclPermission::Deny)),
        );
    let mut out = Vec::new();
    for (principal, host, permission) in who {
        for (resource_type, name) in a.resources.list() {
            // The cluster has one name; only LITERAL matches it.
            let pattern_type = match resource_type {
                ResourceType::Cluster => PatternType::Literal,
                _ => a.resource_pattern_type,
            };
            for op in &a.operation {
                out.push(AclBinding {
                    resource_type,
                    resource_name: name.clone(),
                    pattern_type,
                    principal: principal.clone(),
                    host: host.clone(),
                    operation: *op,
                    permission,
                });
            }
        }
    }
    out
}

/// One filter per resource (or one for all), narrowed by the other flags.
fn filters(
    a: &FilterArgs,
    ops: &[AclOperation],
    perm: Option<AclPermission>,
) -> Vec<AclBindingFilter> {
    let base = AclBindingFilter {
        pattern_type: Some(a.resource_pattern_type),
        principal: a.principal.clone(),
        permission: perm,
        ..Default::default()
    };
    let by_resource: Vec<AclBindingFilter> = match a.resources.list() {
        r if r.is_empty() => vec![base],
        r => r
            .into_iter()
            .map(|(t, n)| AclBindingFilter {
                resource_type: Some(t),
                resource_name: Some(n),
                ..base.clone()
            })
            .collect(),
    };
    if ops.is_empty() {
        return by_resource;
    }
    by_resource
        .iter()
        .flat_map(|f| {
            ops.iter().map(|op| AclBindingFilter {
                operation: Some(*op),
                ..f.clone()
            })
        })
        .collect()
}

fn print(acls: &[AclBinding]) {
    for b in acls {
        println!(
            "{:?} {:<30} {:<8} {:?} {:<15} {:<16} from {}",
            b.resource_type,
            format!("'{}'", b.resource_name),
            format!("{:?}", b.pattern_type).to_uppercase(),
            b.permission,
            format!("{:?}", b.operation),
            b.principal,
            b.host
        );
    }
}

pub async fn run(ctx: &Ctx, cmd: AclsCmd) -> Result<()> {
    let admin = ctx.admin()?;
    match cmd {
        AclsCmd::Create(a) => {
            if a.resources.list().is_empty() {
                bail!("name a resource: --topic, --group, --transactional-id or --cluster");
            }
            if a.allow_principal.is_empty() && a.deny_principal.is_empty() {
                bail!(
                    "name a principal: --allow-principal or --deny-principal (User:alice, User:*)"
                );
            }
            let created = admin.create_acls(bindings(&a)).await?;
            if ctx.json {
                return print_json(&created);
            }
            print(&created.acls);
            println!(
                "{} ACL(s) stored at metadata offset {}",
                created.acls.len(),
                created.metadata_offset
            );
        }
        AclsCmd::List(f) => {
            let mut acls = Vec::new();
            for filter in filters(&f, &[], None) {
                for b in admin.list_acls(&filter).await? {
                    if !acls.contains(&b) {
                        acls.push(b);
                    }
                }
            }
            if ctx.json {
                return print_json(&AclList { acls });
            }
            print(&acls);
        }
        AclsCmd::Delete(d) => {
            if d.filter.resources.list().is_empty() && !d.all {
                bail!("name a resource (--topic, --group, --transactional-id, --cluster) or pass --all");
            }
            let deleted = admin
                .delete_acls(filters(&d.filter, &d.operation, d.permission))
                .await?;
            if ctx.json {
                return print_json(&deleted);
            }
            print(&deleted.deleted);
            println!("{} ACL(s) deleted", deleted.deleted.len());
        }
    }
    Ok(())
}
