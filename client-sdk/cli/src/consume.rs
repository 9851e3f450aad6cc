//! `ferry consume TOPIC`: print records from assigned partitions or as a
//! group member, through the SDK consumer. As a member it commits what it
//! printed after every poll, and on SIGTERM or Ctrl-C it commits and leaves
//! the group cleanly, so its partitions move on at once.

use crate::context::Ctx;
use crate::output::print_json;
use anyhow::Result;
use clap::Args;
use ferry_client::{Consumer, OffsetReset};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// With --group: missing heartbeats this long removes the member.
    #[arg(long, default_value_t = 10_000)]
    session_timeout_ms: u64,
}

/// Set by SIGTERM / Ctrl-C; checked between polls, so a poll's records are
/// always printed and committed before the member leaves.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let flag = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        flag.store(true, Ordering::SeqCst);
    });
    Ok(stop)
}

pub async fn run(ctx: &Ctx, args: ConsumeArgs) -> Result<()> {
    let ConsumeArgs {
        topic,
        from_beginning,
        partition,
        offset,
        max_messages,
        group,
        session_timeout_ms,
    } = args;
    let reset = if from_beginning {
        OffsetReset::Earliest
    } else {
        OffsetReset::Latest
    };
    let mut consumer = Consumer::new(ctx.ep.brokers.clone(), reset);
    if let Some(c) = &ctx.credentials {
        consumer = consumer.with_credentials(c.clone());
    }
    match &group {
        Some(g) => {
            consumer
                .subscribe(
                    g,
                    &[topic.as_str()],
                    Duration::from_millis(session_timeout_ms),
                )
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
    let stop = stop_flag()?;
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
            std::io::Write::flush(&mut std::io::stdout())?;
            if let Err(e) = consumer.commit().await {
                // Fenced (e.g. paused past the session): the next poll joins again.
                eprintln!("commit failed: {e}");
            }
        }
        if max_messages.is_some_and(|m| printed >= m) || stop.load(Ordering::SeqCst) {
            if group.is_some() {
                consumer.close().await?;
            }
            return Ok(());
        }
    }
}
