//! Client authentication against a real cluster started with
//! `security.client_auth = "basic"`: refusals without or with wrong
//! credentials, a created user producing and fetching through the SDK, a
//! deleted user refused by every broker once the deletion is pushed, users
//! surviving a controller restart, and no password in answers or logs.

use ferry_client::{AdminClient, Consumer, Credentials, OffsetReset, Producer, ProducerConfig};
use ferry_common::ErrorCode;
use ferry_test_cluster::{wait_for, TestCluster, ADMIN_USER};
use serde_json::{json, Value};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

/// The status, `WWW-Authenticate` and JSON body of `GET url` as `who`.
async fn get(
    cluster: &TestCluster,
    url: &str,
    who: Option<(&str, &str)>,
) -> (u16, Option<String>, Value) {
    let mut req = cluster.http().get(url);
    if let Some((u, p)) = who {
        req = req.basic_auth(u, Some(p));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, challenge, res.json().await.unwrap_or(Value::Null))
}

/// The controller's applied metadata offset.
async fn controller_offset(admin: &AdminClient) -> u64 {
    admin.describe_cluster().await.unwrap().metadata_offset
}

/// Waits until every broker has applied the metadata up to `offset`.
async fn wait_brokers_at(cluster: &TestCluster, offset: u64, who: (&str, &str)) {
    for b in cluster.broker_urls() {
        let url = format!("{b}/v1/metadata");
        let reached = wait_for(PATIENCE, || async {
            let (status, _, body) = get(cluster, &url, Some(who)).await;
            (status == 200 && body["metadata_offset"].as_u64() >= Some(offset)).then_some(())
        })
        .await;
        assert!(
            reached.is_some(),
            "{b} did not reach metadata offset {offset}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_in_the_metadata_log_authenticate_every_public_request() {
    let cluster = TestCluster::builder(1, 2).client_auth_basic().start().await;
    let admin_password = cluster.admin_password().unwrap().to_string();
    let admin_who = (ADMIN_USER, admin_password.as_str());
    let admin = AdminClient::new(cluster.controller_urls())
        .with_credentials(Credentials::new(ADMIN_USER, &admin_password));
    // The active controller creates the bootstrap user once it leads.
    let bootstrapped = wait_for(PATIENCE, || async {
        admin.list_users().await.ok().filter(|u| !u.is_empty())
    })
    .await
    .expect("the bootstrap user was not created");
    assert_eq!(bootstrapped[0].name, ADMIN_USER);

    // No credentials, wrong ones, unknown users: 401 with the challenge, on
    // the controller and on a broker; ops endpoints stay open.
    let controller = &cluster.controller_urls()[0];
    let broker = &cluster.broker_urls()[0];
    for url in [
        format!("{controller}/v1/topics"),
        format!("{broker}/v1/metadata"),
    ] {
        for who in [None, Some((ADMIN_USER, "wrong")), Some(("nobody", "x"))] {
            let (status, challenge, body) = get(&cluster, &url, who).await;
            assert_eq!(status, 401, "{url} as {who:?}: {body}");
            assert_eq!(challenge.as_deref(), Some("Basic realm=\"ferry\""));
            assert_eq!(body["error_code"], "SASL_AUTHENTICATION_FAILED");
        }
    }
    for url in [format!("{controller}/healthz"), format!("{broker}/metrics")] {
        assert_eq!(get(&cluster, &url, None).await.0, 200, "{url}");
    }

    // A hostile name is refused; a deletion of nothing is RESOURCE_NOT_FOUND.
    let bad = admin.upsert_user("a:b", "pw", None).await.unwrap_err();
    assert!(
        matches!(
            bad,
            ferry_client::FerryError::Api {
                code: ErrorCode::InvalidRequest,
                ..
            }
        ),
        "{bad:?}"
    );
    let gone = admin.delete_user("nobody").await.unwrap_err();
    assert!(
        matches!(
            gone,
            ferry_client::FerryError::Api {
                code: ErrorCode::ResourceNotFound,
                ..
            }
        ),
        "{gone:?}"
    );

    // A new user produces and fetches through the SDK.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let alice_password = format!("alice-pw-{nanos:x}");
    let alice = Credentials::new("alice", &alice_password);
    let created = admin
        .upsert_user("alice", &alice_password, None)
        .await
        .unwrap();
    assert_eq!((created.name.as_str(), created.iterations), ("alice", 4096));
    admin.create_topic("ledger", 2, 1, []).await.unwrap();
    wait_brokers_at(&cluster, controller_offset(&admin).await, admin_who).await;
    let mut config = ProducerConfig::new(cluster.broker_urls(), cluster.controller_urls());
    config.credentials = Some(alice.clone());
    let producer = Producer::connect(config).await.unwrap();
    for i in 0..10u32 {
        producer
            .send_to("ledger", i % 2, None, format!("r{i}").into_bytes())
            .await
            .unwrap()
            .await
            .unwrap()
            .unwrap();
    }
    let mut consumer =
        Consumer::new(cluster.broker_urls(), OffsetReset::Earliest).with_credentials(alice.clone());
    consumer.assign("ledger", 0);
    consumer.assign("ledger", 1);
    let mut seen = 0;
    let deadline = std::time::Instant::now() + PATIENCE;
    while seen < 10 && std::time::Instant::now() < deadline {
        seen += consumer
            .poll(Duration::from_millis(200))
            .await
            .unwrap()
            .len();
    }
    assert_eq!(seen, 10, "fetched {seen} of 10 records");

    // The topic endpoint forwards records for partitions led elsewhere; the
    // forward is signed, so it passes the leader's client authentication.
    let keyed: Vec<Value> = (0..20)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    let res = cluster
        .http()
        .post(format!("{broker}/v1/topics/ledger/records"))
        .basic_auth("alice", Some(&alice_password))
        .json(&json!({ "records": keyed }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let partitions: std::collections::BTreeSet<u64> = body["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["partition"].as_u64().expect("every record appended"))
        .collect();
    assert_eq!(partitions.len(), 2, "{body}");

    // Users survive a controller restart.
    let c1 = &cluster.controller_names()[0];
    cluster.stop(c1);
    cluster.start(c1);
    cluster.wait_ready(c1, PATIENCE).await;
    let (status, _, users) = get(
        &cluster,
        &format!("{controller}/v1/users"),
        Some(("alice", &alice_password)),
    )
    .await;
    assert_eq!(status, 200, "{users}");
    let text = users.to_string();
    assert!(
        text.contains("\"alice\"") && text.contains("SCRAM-SHA-256"),
        "{text}"
    );
    for secret in ["salt", "stored_key", "server_key", "password"] {
        assert!(!text.contains(secret), "{text}");
    }

    // Deleted: refused on every broker once the deletion is pushed there.
    admin.delete_user("alice").await.unwrap();
    wait_brokers_at(&cluster, controller_offset(&admin).await, admin_who).await;
    for b in cluster.broker_urls() {
        let url = format!("{b}/v1/metadata");
        let (status, _, _) = get(&cluster, &url, Some(("alice", &alice_password))).await;
        assert_eq!(status, 401, "{b} still takes the deleted user");
    }
    drop(producer);

    // No password reached any log.
    for name in cluster
        .controller_names()
        .iter()
        .chain(&cluster.broker_names())
    {
        let log = std::fs::read_to_string(cluster.log_file(name)).unwrap_or_default();
        assert!(
            !log.contains(&alice_password),
            "{name}'s log holds alice's password"
        );
        assert!(
            !log.contains(&admin_password),
            "{name}'s log holds the admin password"
        );
    }
}
