//! The `ferry` command line against a real local cluster: create, describe,
//! produce from stdin, consume as JSON, and a Kafka error code on a clash.

mod common;

use ferry_test_cluster::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_creates_describes_produces_and_consumes() {
    let cluster = TestCluster::builder(1, 1).start().await;
    let bootstrap = cluster.controller_urls().join(",");
    let ferry = |args: &[&str], stdin: &str| common::ferry(&bootstrap, None, args, stdin);
    let (ok, out, err) = ferry(
        &[
            "topics",
            "create",
            "cli",
            "--partitions",
            "2",
            "--config",
            "retention.ms=60000",
        ],
        "",
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("Created topic cli with 2 partitions"), "{out}");
    let (ok, out, _) = ferry(&["topics", "describe", "cli"], "");
    assert!(ok && out.contains("Partition: 1"), "{out}");
    let (ok, _, err) = ferry(
        &["produce", "cli", "--key-separator", ":"],
        "k1:hello\nk2:world\n",
    );
    assert!(ok && err.contains("2 records produced"), "{err}");
    let (ok, out, err) = ferry(
        &[
            "--json",
            "consume",
            "cli",
            "--from-beginning",
            "--max-messages",
            "2",
        ],
        "",
    );
    assert!(ok, "{err}");
    let mut values: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    values.sort();
    assert_eq!(values, vec!["hello", "world"]);
    let (ok, _, err) = ferry(&["topics", "create", "cli"], "");
    assert!(!ok && err.contains("TOPIC_ALREADY_EXISTS"), "{err}");
}
