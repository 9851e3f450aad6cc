//! `ferry topics create|list|describe|delete|add-partitions`.

use crate::context::Ctx;
use crate::output::print_json;
use anyhow::{Context, Result};
use clap::Subcommand;
use ferry_client::AdminClient;

#[derive(Subcommand)]
pub enum TopicsCmd {
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        #[arg(long, default_value_t = 1)]
        replication_factor: u16,
        /// Topic config, repeatable: --config retention.ms=60000
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    List,
    Describe {
        name: String,
    },
    Delete {
        name: String,
    },
    AddPartitions {
        name: String,
        /// The new total.
        #[arg(long)]
        partitions: u32,
    },
}

pub async fn run(ctx: &Ctx, cmd: TopicsCmd) -> Result<()> {
    let admin = ctx.admin()?;
    let json = ctx.json;
    match cmd {
        TopicsCmd::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            create(
                &admin,
                &name,
                partitions,
                replication_factor,
                &configs,
                json,
            )
            .await
        }
        TopicsCmd::List => {
            let l = admin.list_topics().await?;
            if json {
                return print_json(&l);
            }
            for t in l {
                println!(
                    "{:<40} partitions {:<5} replication {}",
                    t.topic, t.partitions, t.replication_factor
                );
            }
            Ok(())
        }
        TopicsCmd::Describe { name } => describe(&admin, &name, json).await,
        TopicsCmd::Delete { name } => {
            admin.delete_topic(&name).await?;
            if json {
                return print_json(&serde_json::json!({"deleted": name}));
            }
            println!("Deleted topic {name}.");
            Ok(())
        }
        TopicsCmd::AddPartitions { name, partitions } => {
            let t = admin.add_partitions(&name, partitions).await?;
            if json {
                return print_json(&t);
            }
            println!(
                "Topic {} now has {} partitions.",
                t.topic,
                t.partitions.len()
            );
            Ok(())
        }
    }
}

async fn create(
    admin: &AdminClient,
    name: &str,
    partitions: u32,
    replication_factor: u16,
    configs: &[String],
    json: bool,
) -> Result<()> {
    let pairs: Vec<(String, String)> = configs
        .iter()
        .map(|c| {
            c.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--config {c} is not KEY=VALUE"))
        })
        .collect::<Result<_>>()?;
    let t = admin
        .create_topic(
            name,
            partitions,
            replication_factor,
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .await?;
    if json {
        return print_json(&t);
    }
    println!(
        "Created topic {} with {} partitions, replication factor {}.",
        t.topic,
        t.partitions.len(),
        t.replication_factor
    );
    Ok(())
}

async fn describe(admin: &AdminClient, name: &str, json: bool) -> Result<()> {
    let t = admin.describe_topic(name).await?;
    if json {
        return print_json(&t);
    }
    println!(
        "Topic: {}  TopicId: {}  ReplicationFactor: {}  Configs: {:?}",
        t.topic, t.topic_id, t.replication_factor, t.configs
    );
    let ids = |v: &[ferry_common::BrokerId]| {
        v.iter()
            .map(|b| b.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    for p in t.partitions {
        println!(
            "  Partition: {:<4} Leader: {:<5} Epoch: {:<4} Replicas: {:<10} Isr: {}",
            p.partition,
            p.leader.map_or("none".into(), |l| l.0.to_string()),
            p.leader_epoch,
            ids(&p.replicas),
            ids(&p.isr)
        );
    }
    Ok(())
}
