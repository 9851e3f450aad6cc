//! `ferry groups list|describe`: consumer groups through the SDK's group admin client.

use crate::context::Ctx;
use crate::output::print_json;
use anyhow::Result;
use clap::Subcommand;
use ferry_client::GroupAdminClient;
use ferry_common::groups::GroupList;

#[derive(Subcommand)]
pub enum GroupsCmd {
    List,
    Describe { group: String },
}

pub async fn run(ctx: &Ctx, cmd: GroupsCmd) -> Result<()> {
    let mut client = GroupAdminClient::new(ctx.ep.brokers.clone());
    if let Some(c) = &ctx.credentials {
        client = client.with_credentials(c.clone());
    }
    match cmd {
        GroupsCmd::List => {
            let groups = client.list_groups().await?;
            if ctx.json {
                return print_json(&GroupList { groups });
            }
            for g in groups {
                println!(
                    "{:<40} members {:<4} generation {}",
                    g.group, g.members, g.generation
                );
            }
        }
        GroupsCmd::Describe { group } => {
            let d = client.describe_group(&group).await?;
            if ctx.json {
                return print_json(&d);
            }
            println!(
                "Group {}  state {}  generation {}  assignor {}",
                d.group, d.state, d.generation, d.assignor
            );
            for m in &d.members {
                let parts: Vec<String> = m
                    .assignment
                    .iter()
                    .map(|tp| format!("{}-{}", tp.topic, tp.partition))
                    .collect();
                let pending: Vec<String> = m
                    .pending_revocation
                    .iter()
                    .map(|tp| format!("{}-{}", tp.topic, tp.partition))
                    .collect();
                println!(
                    "  member {:<50} epoch {:<4} owns {}{}",
                    m.member_id,
                    m.member_epoch,
                    parts.join(" "),
                    if pending.is_empty() {
                        String::new()
                    } else {
                        format!("  revoking {}", pending.join(" "))
                    }
                );
            }
            for o in &d.offsets {
                let lag = o.lag.map_or("?".to_string(), |l| l.to_string());
                println!(
                    "  {}-{:<4} committed {:<10} lag {lag}",
                    o.topic, o.partition, o.offset
                );
            }
        }
    }
    Ok(())
}
