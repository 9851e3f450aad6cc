//! `ferry-broker`: loads config, starts logging, binds and runs.

use anyhow::Context;
use clap::Parser;
use ferry_broker::config::BrokerConfig;
use std::path::PathBuf;

/// A Ferry broker (stores partitions, serves produce and fetch).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// TOML config file; `FERRY_BROKER__*` environment variables override it.
    #[arg(long, env = "FERRY_BROKER_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ferry_common::telemetry::init("info");
    let cfg: BrokerConfig = ferry_common::settings::load(args.config.as_deref(), "FERRY_BROKER")
        .context("loading config")?;
    cfg.validate()?;
    let listener = tokio::net::TcpListener::bind(&cfg.listen_addr)
        .await
        .with_context(|| format!("binding {}", cfg.listen_addr))?;
    ferry_broker::run(cfg, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    ferry_common::telemetry::shutdown_signal().await;
    tracing::info!("shutting down");
}
