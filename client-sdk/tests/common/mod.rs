//! A local cluster of real controller and broker processes for SDK tests.
#![allow(dead_code)]

use ferry_deploy::{launch_for_tests, LocalCluster};
use std::path::PathBuf;

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
    let cluster = launch_for_tests(dir.path(), 1, brokers, &bin_dir(), controller, broker)
        .await
        .expect("cluster up");
    (dir, cluster)
}
