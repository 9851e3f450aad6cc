//! `ferry cluster status`: controllers, the Raft leader and term, brokers.

use crate::context::Ctx;
use crate::output::print_json;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ClusterCmd {
    Status,
}

pub async fn run(ctx: &Ctx, cmd: ClusterCmd) -> Result<()> {
    match cmd {
        ClusterCmd::Status => status(ctx).await,
    }
}

async fn status(ctx: &Ctx) -> Result<()> {
    let a = ctx.admin()?;
    let c = a.describe_cluster().await?;
    let b = a.describe_brokers().await?;
    if ctx.json {
        return print_json(&serde_json::json!({"cluster": c, "brokers": b}));
    }
    println!(
        "cluster {}  leader: {}  term {}  metadata offset {}",
        c.cluster_id.unwrap_or_default(),
        c.leader_id.map_or("none".into(), |l| l.to_string()),
        c.term,
        c.metadata_offset
    );
    for m in c.members {
        println!("  controller {:<3} {:<28} {}", m.id, m.url, m.role);
    }
    for x in b {
        println!(
            "  broker     {:<3} {:<28} {}",
            x.id.0,
            x.url,
            if x.fenced { "FENCED" } else { "ok" }
        );
    }
    Ok(())
}
