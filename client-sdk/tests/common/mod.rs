//! A local cluster of real controller and broker processes for SDK tests.
#![allow(dead_code)]

use ferry_deploy::{free_base_port, ClusterSpec, LocalCluster};
use std::path::PathBuf;
use std::time::Duration;

/// The workspace's binaries sit next to the test's `deps` directory
/// (`cargo test --workspace` builds them).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf();
    for bin in ["ferry-controller", "ferry-broker"] {
        assert!(
            dir.join(bin).exists(),
            "{bin} is not built in {}; run `cargo test --workspace`",
            dir.display()
        );
    }
    dir
}

/// Starts 1 controller and `brokers` brokers with extra settings; waits until ready.
pub async fn cluster(
    brokers: usize,
    controller: &[(&str, &str)],
    broker: &[(&str, &str)],
) -> (tempfile::TempDir, LocalCluster) {
    let dir = tempfile::tempdir().expect("tempdir");
    let own = |s: &[(&str, &str)]| {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let spec = ClusterSpec {
        controllers: 1,
        brokers,
        base_port: free_base_port(1, brokers as u16).expect("ports"),
        bin_dir: bin_dir(),
        controller_settings: own(controller),
        broker_settings: own(broker),
    };
    let cluster = LocalCluster::create(dir.path(), spec)
        .expect("layout")
        .kill_on_drop();
    cluster
        .up(Duration::from_secs(60))
        .await
        .expect("cluster up");
    (dir, cluster)
}
