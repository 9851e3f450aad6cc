//! `ferry`: the command-line tool for people. Human-readable by default,
//! `--json` for scripts. Finds the cluster from `--bootstrap` / `FERRY_BOOTSTRAP`
//! (controller and/or broker URLs), defaulting to the local cluster's ports.
//!
//! Everything goes through the client SDK (`ferry-client`). One module per
//! command group: [`cluster`], [`topics`], [`produce`], [`consume`], [`groups`],
//! [`users`], [`acls`];
//! [`context`] holds what they share, [`output`] the printing helpers.

mod acls;
mod cluster;
mod consume;
mod context;
mod groups;
mod output;
mod produce;
mod topics;
mod users;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use context::Ctx;
use ferry_client::{Credentials, Endpoints, FerryError};

#[derive(Parser)]
#[command(name = "ferry", version, about = "Work with a Ferry cluster")]
struct Cli {
    /// Controller and/or broker URLs, comma-separated.
    #[arg(
        long,
        global = true,
        env = "FERRY_BOOTSTRAP",
        default_value = "http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103"
    )]
    bootstrap: String,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// PEM file of the CA that signed the cluster's TLS certificates
    /// (`ferry-local up --tls` prints it); the public roots are trusted too.
    #[arg(long, global = true, env = "FERRY_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// User to authenticate as (HTTP Basic), for a cluster with
    /// `security.client_auth = "basic"`.
    #[arg(long, global = true, env = "FERRY_USER")]
    user: Option<String>,
    /// That user's password; prefer FERRY_PASSWORD (a flag is visible in
    /// the process list). Without TLS it crosses the network in the clear.
    #[arg(long, global = true, env = "FERRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cluster overview: controllers, leader, brokers.
    Cluster {
        #[command(subcommand)]
        cmd: cluster::ClusterCmd,
    },
    /// Create, list, describe, delete topics; add partitions.
    Topics {
        #[command(subcommand)]
        cmd: topics::TopicsCmd,
    },
    /// Produce lines from stdin (one record per line).
    Produce(produce::ProduceArgs),
    /// Print records; follows new ones until Ctrl-C unless --max-messages.
    Consume(consume::ConsumeArgs),
    /// List and describe consumer groups.
    Groups {
        #[command(subcommand)]
        cmd: groups::GroupsCmd,
    },
    /// Create, list and delete ACLs (authorizer = "acl").
    Acls {
        #[command(subcommand)]
        cmd: acls::AclsCmd,
    },
    /// Create, delete and list client users (client authentication).
    Users {
        #[command(subcommand)]
        cmd: users::UsersCmd,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        match e.downcast_ref::<FerryError>() {
            Some(fe) => eprintln!("error: {fe}{}", output::hint(fe)),
            None => eprintln!("error: {e:#}"),
        }
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Some(ca) = &cli.ca_file {
        ferry_client::trust_ca_file(ca)?;
    }
    let credentials = match (cli.user, cli.password) {
        (Some(u), Some(p)) => Some(Credentials::new(u, p)),
        (None, None) => None,
        _ => bail!("--user and --password (FERRY_USER, FERRY_PASSWORD) go together"),
    };
    let ep = Endpoints::discover_with(cli.bootstrap.split(','), credentials.as_ref()).await?;
    if ep.is_empty() {
        bail!(
            "no Ferry node answers at {}; start one with `deploy/ferry-local up` or pass --bootstrap URL,...",
            cli.bootstrap
        );
    }
    let ctx = Ctx {
        ep,
        json: cli.json,
        credentials,
    };
    match cli.cmd {
        Cmd::Cluster { cmd } => cluster::run(&ctx, cmd).await,
        Cmd::Topics { cmd } => topics::run(&ctx, cmd).await,
        Cmd::Produce(args) => produce::run(&ctx, args).await,
        Cmd::Consume(args) => consume::run(&ctx, args).await,
        Cmd::Groups { cmd } => groups::run(&ctx, cmd).await,
        Cmd::Users { cmd } => users::run(&ctx, cmd).await,
        Cmd::Acls { cmd } => acls::run(&ctx, cmd).await,
    }
}
