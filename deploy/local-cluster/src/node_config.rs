//! The TOML config file each node is started with, rendered from the layout.

use crate::layout::{ClusterLayout, NodeKind, NodeSpec};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

fn secret_file(layout: &ClusterLayout) -> std::path::PathBuf {
    layout.dir.join(crate::cluster::SECRET_FILE)
}

/// The `[tls]` section, empty when the cluster runs plain HTTP.
fn tls(layout: &ClusterLayout, node: &NodeSpec) -> String {
    if !layout.tls {
        return String::new();
    }
    let pem = crate::tls::node_pem(&layout.dir, &node.name);
    format!(
        "\n[tls]\ncert_file = {:?}\nkey_file = {:?}\nca_file = {:?}\n",
        pem.cert,
        pem.key,
        crate::tls::ca_file(&layout.dir)
    )
}

const HEADER: &str = "# Written by ferry-local; edits are overwritten by `up`.\n";

/// The config text for `node`, whose data lives in `data_dir`.
pub fn render(layout: &ClusterLayout, node: &NodeSpec, data_dir: &Path) -> Result<String> {
    match node.kind {
        NodeKind::Controller => controller(layout, node, data_dir),
        NodeKind::Broker => broker(layout, node, data_dir),
    }
}

fn controller(layout: &ClusterLayout, c: &NodeSpec, data_dir: &Path) -> Result<String> {
    let voters: Vec<String> = layout
        .controllers()
        .map(|c| format!("{}@{}", c.id, c.url()))
        .collect();
    let mut top = String::new();
    let mut raft = String::new();
    writeln!(top, "node_id = {}", c.id)?;
    writeln!(top, "listen_addr = \"127.0.0.1:{}\"", c.port)?;
    writeln!(top, "voters = \"{}\"", voters.join(","))?;
    writeln!(top, "data_dir = {:?}", data_dir)?;
    writeln!(top, "cluster_secret_file = {:?}", secret_file(layout))?;
    // Dotted keys go to their section: `raft.x = 1` is `x = 1` under `[raft]`.
    for (k, v) in &layout.controller_settings {
        match k.strip_prefix("raft.") {
            Some(k) => writeln!(raft, "{k} = {v}")?,
            None => writeln!(top, "{k} = {v}")?,
        }
    }
    Ok(format!("{HEADER}{top}\n[raft]\n{raft}{}", tls(layout, c)))
}

fn broker(layout: &ClusterLayout, b: &NodeSpec, data_dir: &Path) -> Result<String> {
    let controllers: Vec<String> = layout.controllers().map(NodeSpec::url).collect();
    let mut text = String::from(HEADER);
    writeln!(text, "broker_id = {}", b.id)?;
    writeln!(text, "listen_addr = \"127.0.0.1:{}\"", b.port)?;
    writeln!(text, "controllers = \"{}\"", controllers.join(","))?;
    writeln!(text, "data_dir = {:?}", data_dir)?;
    writeln!(text, "cluster_secret_file = {:?}", secret_file(layout))?;
    // Kafka's default of 3 would leave groups unavailable on a smaller cluster.
    const OFFSETS_RF: &str = "offsets_topic_replication_factor";
    if !layout.broker_settings.iter().any(|(k, _)| k == OFFSETS_RF) {
        let rf = layout.brokers().count().clamp(1, 3);
        writeln!(text, "{OFFSETS_RF} = {rf}")?;
    }
    for (k, v) in &layout.broker_settings {
        writeln!(text, "{k} = {v}")?;
    }
    text.push_str(&tls(layout, b));
    Ok(text)
}
