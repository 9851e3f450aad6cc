//! Network isolation of one node on loopback: every node runs in its own
//! cgroup v2 (`<cgroup2>/ferry-nemesis-<port>/<node>`, joined before exec so
//! all its sockets carry it), and isolating a node drops, in an iptables
//! chain `ferry-nemesis-<port>` jumped to from `OUTPUT`, every packet its
//! sockets send (`-m cgroup --path`) and every packet sent to its port. On
//! loopback every packet passes `OUTPUT`, so that cuts it off both ways.
//!
//! [`Net`] removes its chain and cgroups when dropped (normal exit, error,
//! panic unwinding, Ctrl-C handled in `main`); a stale chain or cgroup left by
//! a SIGKILLed run on the same ports is reused and cleaned by the next run.

use anyhow::{bail, Context, Result};
use ferry_local_cluster::NodeSpec;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cgroups and the iptables chain of one checker run.
pub struct Net {
    /// `<cgroup2 mount>/ferry-nemesis-<port>`.
    root: PathBuf,
    /// `ferry-nemesis-<port>`: the chain name and the cgroup path below the mount.
    name: String,
    nodes: Vec<String>,
    isolated: Option<String>,
}

impl Net {
    /// Creates a cgroup per node and an empty chain jumped to from `OUTPUT`.
    pub fn setup(tag: u16, nodes: &[NodeSpec]) -> Result<Net> {
        let mount = cgroup2_mount()?;
        let name = format!("ferry-nemesis-{tag}");
        let root = mount.join(&name);
        let mut net = Net {
            root,
            name,
            nodes: Vec::new(),
            isolated: None,
        };
        for n in nodes {
            let dir = net.root.join(&n.name);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating cgroup {} (are you root?)", dir.display()))?;
            net.nodes.push(n.name.clone());
        }
        // A chain left by a SIGKILLed run on these ports is flushed and reused.
        if iptables(&["-N", &net.name]).is_err() {
            iptables(&["-F", &net.name])?;
        }
        if iptables(&["-C", "OUTPUT", "-j", &net.name]).is_err() {
            iptables(&["-I", "OUTPUT", "-j", &net.name])?;
        }
        Ok(net)
    }

    /// Where the per-node cgroups live (for `LocalCluster::with_cgroups`).
    pub fn cgroup_root(&self) -> &Path {
        &self.root
    }

    /// Cuts `node` off: its packets and packets to its port are dropped.
    pub fn isolate(&mut self, node: &NodeSpec) -> Result<()> {
        self.heal()?;
        let path = format!("{}/{}", self.name, node.name);
        let port = node.port.to_string();
        iptables(&[
            "-A", &self.name, "-m", "cgroup", "--path", &path, "-j", "DROP",
        ])?;
        for dir in ["--dport", "--sport"] {
            iptables(&["-A", &self.name, "-p", "tcp", dir, &port, "-j", "DROP"])?;
        }
        self.isolated = Some(node.name.clone());
        Ok(())
    }

    /// Lets every packet through again.
    pub fn heal(&mut self) -> Result<()> {
        if self.isolated.take().is_some() {
            iptables(&["-F", &self.name])?;
        }
        Ok(())
    }

    /// Removes the chain and the cgroups; the nodes must be gone (a cgroup
    /// with processes cannot be removed).
    fn cleanup(&mut self) {
        let _ = iptables(&["-D", "OUTPUT", "-j", &self.name]);
        let _ = iptables(&["-F", &self.name]);
        let _ = iptables(&["-X", &self.name]);
        for n in self.nodes.drain(..) {
            let dir = self.root.join(&n);
            if let Err(e) = std::fs::remove_dir(&dir) {
                eprintln!(
                    "ferry-nemesis: could not remove cgroup {}: {e}",
                    dir.display()
                );
            }
        }
        let _ = std::fs::remove_dir(&self.root);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The cgroup v2 mount point: `/sys/fs/cgroup` on pure v2 systems,
/// `/sys/fs/cgroup/unified` on hybrid ones.
fn cgroup2_mount() -> Result<PathBuf> {
    let mounts =
        std::fs::read_to_string("/proc/self/mounts").context("reading /proc/self/mounts")?;
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (_, Some(dir), Some("cgroup2")) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        return Ok(PathBuf::from(dir));
    }
    bail!("no cgroup v2 hierarchy is mounted; network isolation needs one (or pass --no-isolation)")
}

fn iptables(args: &[&str]) -> Result<()> {
    // -w: wait for the xtables lock other programs may hold.
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .context("running iptables (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
