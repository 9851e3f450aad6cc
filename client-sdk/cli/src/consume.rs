//! `ferry consume TOPIC`: print records from assigned partitions or as a
//! group member, through the SDK consumer.

use crate::context::Ctx;
use crate::output::print_json;
use anyhow::Result;
use clap::Args;
use ferry_client::{Consumer, OffsetReset};
use std::time::Duration;

#[derive(Args)]
pub struct ConsumeArgs {
    topic: String,
    #[arg(long)]
    from_beginning: bool,
    #[arg(long)]
    partition: Option<u32>,
    #[arg(long)]
    offset: Option<u64>,
    #[arg(long)]
    max_messages: Option<usize>,
    /// Consume as a member of this group: partitions are shared with the
    /// other members and positions are committed as records are printed.
    #[arg(long)]
    group: Option<String>,
}

pub async fn run(ctx: &Ctx, args: ConsumeArgs) -> Result<()> {
    let ConsumeArgs {
        topic,
        from_beginning,
        partition,
        offset,
        max_messages,
        group,
    } = args;
    let reset = if from_beginning {
        OffsetReset::Earliest
    } else {
        OffsetReset::Latest
    };
    let mut consumer = Consumer::new(ctx.ep.brokers.clone(), reset);
    match &group {
        Some(g) => {
            consumer
                .subscribe(g, &[topic.as_str()], Duration::from_secs(10))
                .await?
        }
        None => {
            let partitions: Vec<u32> = match partition {
                Some(p) => vec![p],
                None => (0..ctx.admin()?.describe_topic(&topic).await?.partitions.len() as u32)
                    .collect(),
            };
            for p in &partitions {
                consumer.assign(&topic, *p);
                if let Some(o) = offset {
                    consumer.seek(&topic, *p, o);
                }
            }
        }
    }
    let mut printed = 0;
    loop {
        for r in consumer.poll(Duration::from_millis(500)).await? {
            let key = r.key.map(|k| String::from_utf8_lossy(&k).into_owned());
            let value = r.value.map(|v| String::from_utf8_lossy(&v).into_owned());
            if ctx.json {
                print_json(
                    &serde_json::json!({"topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp, "key": key, "value": value}),
                )?;
            } else {
                println!("{}", value.unwrap_or_default());
            }
            printed += 1;
            if max_messages.is_some_and(|m| printed >= m) {
                break;
            }
        }
        if group.is_some() {
            consumer.commit().await?;
        }
        if max_messages.is_some_and(|m| printed >= m) {
            if group.is_some() {
                consumer.close().await?;
            }
            return Ok(());
        }
    }
}
