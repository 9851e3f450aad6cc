//! `ferry acls create|list|delete` against a real cluster: kafka-acls style
//! flags become bindings, MATCH listing finds what applies to a topic, and a
//! delete by filter removes only what it selects.

mod common;

use ferry_test_cluster::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_creates_lists_and_deletes_acls() {
    // ANONYMOUS as super user: the CLI manages ACLs without client auth.
    let cluster = TestCluster::builder(1, 1)
        .acl_authorizer(&["User:ANONYMOUS"], false)
        .start()
        .await;
    let bootstrap = cluster.controller_urls().join(",");
    let ferry = |args: &[&str]| common::ferry(&bootstrap, None, args, "");
    let (ok, out, err) = ferry(&[
        "acls",
        "create",
        "--allow-principal",
        "User:alice",
        "--operation",
        "write",
        "--operation",
        "Describe",
        "--topic",
        "orders-",
        "--resource-pattern-type",
        "prefixed",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("2 ACL(s) stored"), "{out}");
    let (ok, out, err) = ferry(&[
        "acls",
        "create",
        "--deny-principal",
        "User:alice",
        "--operation",
        "Write",
        "--topic",
        "orders-secret",
    ]);
    assert!(ok && out.contains("1 ACL(s) stored"), "{out}{err}");
    let (ok, out, err) = ferry(&[
        "acls",
        "list",
        "--topic",
        "orders-secret",
        "--resource-pattern-type",
        "match",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let (ok, out, err) = ferry(&[
        "acls",
        "delete",
        "--topic",
        "orders-secret",
        "--permission",
        "deny",
    ]);
    assert!(ok && out.contains("1 ACL(s) deleted"), "{out}{err}");
    let (ok, out, _) = ferry(&["--json", "acls", "list"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(ok);
    assert_eq!(v["acls"].as_array().unwrap().len(), 2, "{v}");
    let (ok, _, err) = ferry(&[
        "acls",
        "create",
        "--allow-principal",
        "User:a",
        "--operation",
        "Sudo",
        "--topic",
        "t",
    ]);
    assert!(!ok && err.contains("unknown operation"), "{err}");
    let (ok, _, err) = ferry(&[
        "acls",
        "create",
        "--allow-principal",
        "alice",
        "--operation",
        "Read",
        "--topic",
        "t",
    ]);
    assert!(!ok && err.contains("INVALID_REQUEST"), "{err}");
    let (ok, _, err) = ferry(&["acls", "delete"]);
    assert!(!ok && err.contains("--all"), "{err}");
}
