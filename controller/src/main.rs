//! `ferry-controller`: loads config, starts logging, binds and runs.

use anyhow::Context;
use clap::Parser;
use ferry_controller::config::ControllerConfig;
use std::path::PathBuf;

/// A Ferry controller (a member of the Raft metadata quorum).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// TOML config file; `FERRY_CONTROLLER__*` environment variables override it.
    #[arg(long, env = "FERRY_CONTROLLER_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ferry_common::telemetry::init("info,openraft=warn,sled=warn");
    let cfg: ControllerConfig =
        ferry_common::settings::load(args.config.as_deref(), "FERRY_CONTROLLER")
            .context("loading config")?;
    cfg.validate()?;
    let listener = tokio::net::TcpListener::bind(&cfg.listen_addr)
        .await
        .with_context(|| format!("binding {}", cfg.listen_addr))?;
    ferry_controller::run(cfg, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    ferry_common::telemetry::shutdown_signal().await;
    tracing::info!("shutting down");
}
