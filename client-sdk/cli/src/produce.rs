//! `ferry produce TOPIC`: one record per stdin line through the SDK producer.

use crate::context::Ctx;
use crate::output::{hint, print_json};
use anyhow::{bail, Context, Result};
use clap::Args;
use ferry_client::{Acks, Producer, ProducerConfig};
use std::io::BufRead;

#[derive(Args)]
pub struct ProduceArgs {
    topic: String,
    /// Split each line into key and value at this separator.
    #[arg(long)]
    key_separator: Option<String>,
    #[arg(long, default_value = "all")]
    acks: String,
    #[arg(long)]
    partition: Option<u32>,
}

pub async fn run(ctx: &Ctx, args: ProduceArgs) -> Result<()> {
    let ProduceArgs {
        topic,
        key_separator,
        acks,
        partition,
    } = args;
    let ep = &ctx.ep;
    let mut cfg = ProducerConfig::new(ep.brokers.clone(), ep.controllers.clone());
    cfg.acks = Acks::parse(Some(&serde_json::Value::String(acks))).map_err(anyhow::Error::msg)?;
    cfg.idempotence = cfg.acks == Acks::All && !ep.controllers.is_empty();
    cfg.credentials = ctx.credentials.clone();
    let producer = Producer::connect(cfg).await?;
    let mut pending = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        let (key, value) = match &key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.as_bytes().to_vec()), v.as_bytes().to_vec()),
                None => bail!("line has no key separator {sep:?}: {line}"),
            },
            None => (None, line.into_bytes()),
        };
        let d = match partition {
            Some(p) => producer.send_to(&topic, p, key, value).await?,
            None => producer.send(&topic, key, value).await?,
        };
        pending.push(d);
        if pending.len() % 10_000 == 0 {
            eprintln!("… {} records sent", pending.len());
        }
    }
    let (mut ok, mut failed) = (0, 0);
    for d in pending {
        match d.await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("error: {e}{}", hint(&e));
            }
            Err(_) => failed += 1,
        }
    }
    if ctx.json {
        print_json(&serde_json::json!({"produced": ok, "failed": failed}))?;
    } else {
        eprintln!("{ok} records produced, {failed} failed");
    }
    if failed > 0 {
        bail!("{failed} records failed");
    }
    Ok(())
}
