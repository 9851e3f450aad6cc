//! `up` must not report a cluster that is not its own: a stand-in answering
//! `/readyz` on the first controller's port (as a cluster left running in
//! another directory does) while this cluster's controller, unable to bind,
//! exits at once.

use axum::{routing::get, Router};
use ferry_local_cluster::{ClusterSpec, DataRoots, LocalCluster, NodeState};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[tokio::test]
async fn up_refuses_a_port_another_process_already_serves() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/readyz", get(|| async { "ready" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Stand-in binaries that fail as a node that cannot bind does.
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    for bin in ["ferry-controller", "ferry-broker"] {
        let path = bin_dir.join(bin);
        std::fs::write(&path, "#!/bin/sh\necho 'address in use' >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cluster = LocalCluster::create(
        &dir.path().join("cluster"),
        ClusterSpec {
            controllers: 1,
            brokers: 0,
            base_port: port - 1,
            bin_dir,
            controller_settings: Vec::new(),
            broker_settings: Vec::new(),
            data_roots: DataRoots::default(),
            tls: false,
        },
    )
    .unwrap();

    let err = cluster
        .up(Duration::from_secs(5))
        .await
        .expect_err("the stand-in's answer must not count as this cluster being up");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!("127.0.0.1:{port} is not free")),
        "{msg}"
    );
    assert_eq!(cluster.state("controller-1").unwrap(), NodeState::Stopped);
}
