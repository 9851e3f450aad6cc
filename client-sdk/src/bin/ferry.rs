//! `ferry`: the command-line tool for people. Human-readable by default,
//! `--json` for scripts. Finds the cluster from `--bootstrap` / `FERRY_BOOTSTRAP`
//! (controller and/or broker URLs), defaulting to the local cluster's ports.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferry_client::{
    Acks, AdminClient, Consumer, FerryError, OffsetReset, Producer, ProducerConfig,
};
use std::io::BufRead;
use std::time::Duration;

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
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cluster overview: controllers, leader, brokers.
    Cluster {
        #[command(subcommand)]
        cmd: ClusterCmd,
    },
    /// Create, list, describe, delete topics; add partitions.
    Topics {
        #[command(subcommand)]
        cmd: TopicsCmd,
    },
    /// Produce lines from stdin (one record per line).
    Produce {
        topic: String,
        /// Split each line into key and value at this separator.
        #[arg(long)]
        key_separator: Option<String>,
        #[arg(long, default_value = "all")]
        acks: String,
        #[arg(long)]
        partition: Option<u32>,
    },
    /// Print records; follows new ones until Ctrl-C unless --max-messages.
    Consume {
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
    },
    /// List and describe consumer groups.
    Groups {
        #[command(subcommand)]
        cmd: GroupsCmd,
    },
}

#[derive(Subcommand)]
enum GroupsCmd {
    List,
    Describe { group: String },
}

#[derive(Subcommand)]
enum ClusterCmd {
    Status,
}

#[derive(Subcommand)]
enum TopicsCmd {
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

/// Controller and broker URLs, sorted out from the bootstrap list.
struct Endpoints {
    controllers: Vec<String>,
    brokers: Vec<String>,
}

async fn discover(bootstrap: &str) -> Result<Endpoints> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let (mut controllers, mut brokers) = (Vec::new(), Vec::new());
    for url in bootstrap
        .split(',')
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
    {
        let url = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        match http.get(format!("{url}/v1/cluster")).send().await {
            Ok(r) if r.status().is_success() => controllers.push(url),
            Ok(_) => brokers.push(url),
            Err(_) => {}
        }
    }
    if controllers.is_empty() && brokers.is_empty() {
        bail!("no Ferry node answers at {bootstrap}; start one with `deploy/ferry-local up` or pass --bootstrap URL,...");
    }
    if brokers.is_empty() && !controllers.is_empty() {
        brokers = AdminClient::new(controllers.clone())
            .describe_brokers()
            .await?
            .into_iter()
            .map(|b| b.url)
            .collect();
    }
    Ok(Endpoints {
        controllers,
        brokers,
    })
}

fn hint(e: &FerryError) -> &'static str {
    match e.code().map(|c| c.as_str()) {
        Some("TOPIC_ALREADY_EXISTS") => " (choose another name or delete it first)",
        Some("INVALID_REPLICATION_FACTOR") => " (lower --replication-factor or start more brokers)",
        Some("UNKNOWN_TOPIC_OR_PARTITION") => " (check the name with `ferry topics list`)",
        Some("NOT_ENOUGH_REPLICAS") => " (too few in-sync replicas: check `ferry cluster status`)",
        _ => "",
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        match e.downcast_ref::<FerryError>() {
            Some(fe) => eprintln!("error: {fe}{}", hint(fe)),
            None => eprintln!("error: {e:#}"),
        }
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let ep = discover(&cli.bootstrap).await?;
    let admin = || -> Result<AdminClient> {
        if ep.controllers.is_empty() {
            bail!("this command needs a controller URL in --bootstrap");
        }
        Ok(AdminClient::new(ep.controllers.clone()))
    };
    match cli.cmd {
        Cmd::Cluster {
            cmd: ClusterCmd::Status,
        } => {
            let a = admin()?;
            let c = a.describe_cluster().await?;
            let b = a.describe_brokers().await?;
            if cli.json {
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
        }
        Cmd::Topics { cmd } => topics(&admin()?, cmd, cli.json).await?,
        Cmd::Produce {
            topic,
            key_separator,
            acks,
            partition,
        } => {
            let mut cfg = ProducerConfig::new(ep.brokers.clone(), ep.controllers.clone());
            cfg.acks =
                Acks::parse(Some(&serde_json::Value::String(acks))).map_err(anyhow::Error::msg)?;
            cfg.idempotence = cfg.acks == Acks::All && !ep.controllers.is_empty();
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
            if cli.json {
                print_json(&serde_json::json!({"produced": ok, "failed": failed}))?;
            } else {
                eprintln!("{ok} records produced, {failed} failed");
            }
            if failed > 0 {
                bail!("{failed} records failed");
            }
        }
        Cmd::Consume {
            topic,
            from_beginning,
            partition,
            offset,
            max_messages,
            group,
        } => {
            let reset = if from_beginning {
                OffsetReset::Earliest
            } else {
                OffsetReset::Latest
            };
            let mut consumer = Consumer::new(ep.brokers.clone(), reset);
            match &group {
                Some(g) => {
                    consumer
                        .subscribe(g, &[topic.as_str()], Duration::from_secs(10))
                        .await?
                }
                None => {
                    let partitions: Vec<u32> = match partition {
                        Some(p) => vec![p],
                        None => (0..admin()?.describe_topic(&topic).await?.partitions.len() as u32)
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
                    if cli.json {
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
        Cmd::Groups { cmd } => groups(&ep, cmd, cli.json).await?,
    }
    Ok(())
}

async fn topics(admin: &AdminClient, cmd: TopicsCmd, json: bool) -> Result<()> {
    match cmd {
        TopicsCmd::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
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
                    &name,
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
        }
        TopicsCmd::Describe { name } => {
            let t = admin.describe_topic(&name).await?;
            if json {
                return print_json(&t);
            }
            println!(
                "Topic: {}  TopicId: {}  ReplicationFactor: {}  Configs: {:?}",
                t.topic, t.topic_id, t.replication_factor, t.configs
            );
            for p in t.partitions {
                let ids = |v: &[ferry_common::BrokerId]| {
                    v.iter()
                        .map(|b| b.0.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                println!(
                    "  Partition: {:<4} Leader: {:<5} Epoch: {:<4} Replicas: {:<10} Isr: {}",
                    p.partition,
                    p.leader.map_or("none".into(), |l| l.0.to_string()),
                    p.leader_epoch,
                    ids(&p.replicas),
                    ids(&p.isr)
                );
            }
        }
        TopicsCmd::Delete { name } => {
            admin.delete_topic(&name).await?;
            if json {
                return print_json(&serde_json::json!({"deleted": name}));
            }
            println!("Deleted topic {name}.");
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
        }
    }
    Ok(())
}

async fn groups(ep: &Endpoints, cmd: GroupsCmd, json: bool) -> Result<()> {
    let broker = ep.brokers.first().context("no broker found")?;
    let http = reqwest::Client::new();
    match cmd {
        GroupsCmd::List => {
            let l: ferry_common::groups::GroupList = http
                .get(format!("{broker}/v1/groups"))
                .send()
                .await?
                .json()
                .await?;
            if json {
                return print_json(&l);
            }
            for g in l.groups {
                println!(
                    "{:<40} members {:<4} generation {}",
                    g.group, g.members, g.generation
                );
            }
        }
        GroupsCmd::Describe { group } => {
            let res = http
                .get(format!("{broker}/v1/groups/{group}"))
                .send()
                .await?;
            if !res.status().is_success() {
                let e: ferry_common::ErrorBody = res.json().await?;
                return Err(FerryError::from(e).into());
            }
            let d: ferry_common::groups::GroupDescription = res.json().await?;
            if json {
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
                println!("  member {:<50} {}", m.member_id, parts.join(" "));
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
