//! `ferry users ...` and `--user`/`--password` against a real cluster with
//! client authentication on.

mod common;

use ferry_test_cluster::{TestCluster, ADMIN_USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_manages_users_and_authenticates_as_one() {
    let cluster = TestCluster::builder(1, 1).client_auth_basic().start().await;
    let admin_password = cluster.admin_password().unwrap().to_string();
    let bootstrap = cluster.controller_urls().join(",");
    let ferry = |who: Option<(&str, &str)>, args: &[&str], stdin: &str| {
        common::ferry(&bootstrap, who, args, stdin)
    };
    let admin = Some((ADMIN_USER, admin_password.as_str()));
    // The bootstrap user appears once the controller leads; wait for it.
    let listed = ferry_test_cluster::wait_for(std::time::Duration::from_secs(20), || async {
        let (ok, out, _) = ferry(admin, &["users", "list"], "");
        (ok && out.contains(ADMIN_USER)).then_some(())
    })
    .await;
    assert!(listed.is_some(), "the bootstrap user never listed");

    let (ok, _, err) = ferry(None, &["topics", "list"], "");
    assert!(!ok && err.contains("SASL_AUTHENTICATION_FAILED"), "{err}");
    assert!(err.contains("--user"), "{err}");

    let (ok, out, err) = ferry(
        admin,
        &["users", "create", "bob", "--password-stdin"],
        "b0b-pw\n",
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("User bob set") && !out.contains("b0b-pw"),
        "{out}"
    );
    let bob = Some(("bob", "b0b-pw"));
    let (ok, out, err) = ferry(
        bob,
        &["topics", "create", "cli-auth", "--partitions", "1"],
        "",
    );
    assert!(ok, "{out}{err}");
    let (ok, _, err) = ferry(bob, &["produce", "cli-auth"], "one\ntwo\n");
    assert!(ok && err.contains("2 records produced"), "{err}");
    let (ok, out, _) = ferry(
        bob,
        &[
            "consume",
            "cli-auth",
            "--from-beginning",
            "--max-messages",
            "2",
        ],
        "",
    );
    assert!(ok && out.contains("one") && out.contains("two"), "{out}");
    let (ok, out, _) = ferry(admin, &["--json", "users", "list"], "");
    assert!(
        ok && out.contains("\"bob\"") && !out.contains("b0b-pw"),
        "{out}"
    );

    let (ok, out, err) = ferry(admin, &["users", "delete", "bob"], "");
    assert!(ok && out.contains("Deleted user bob"), "{out}{err}");
    let (ok, _, err) = ferry(bob, &["topics", "list"], "");
    assert!(!ok && err.contains("SASL_AUTHENTICATION_FAILED"), "{err}");
    let (ok, _, err) = ferry(admin, &["users", "delete", "bob"], "");
    assert!(!ok && err.contains("RESOURCE_NOT_FOUND"), "{err}");
}
