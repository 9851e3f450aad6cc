//! ACLs on real processes (one controller, two brokers, `authorizer = "acl"`,
//! `allow_everyone_if_no_acl_found = false`): a client with no ACL is refused
//! everywhere, a PREFIXED Allow and a LITERAL Deny combine as Kafka's
//! authorizer does (deny wins), an ACL change is enforced by every broker once
//! its metadata offset reaches the offset the change answered, and listings
//! hide what the caller may not Describe.
//!
//! Without client authentication every client is `User:ANONYMOUS`; setup and
//! ACL administration go signed with the cluster secret, as a cluster member
//! (members are not authorized again: they relay for clients).

mod common;

use common::TestCluster;
use ferry_test_cluster::{NodeIdentity, ADMIN_USER};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const PUSH_WAIT: Duration = Duration::from_secs(20);
const ADMIN: NodeIdentity = NodeIdentity::Broker(1);

async fn start() -> TestCluster {
    TestCluster::builder(1, 2)
        .acl_authorizer(&["User:admin"], false)
        .start()
        .await
}

/// As a cluster member: the harness's administrator.
async fn admin(tc: &TestCluster, method: Method, url: &str, body: Option<&Value>) -> (u16, Value) {
    tc.send_signed(ADMIN, method, url, body).await
}

/// Waits until every broker has applied everything the controller has.
async fn settle(tc: &TestCluster) {
    let (_, info) = tc
        .get(&format!("{}/v1/cluster", tc.url("controller-1")))
        .await;
    let offset = info["metadata_offset"].as_u64().expect("metadata_offset");
    tc.wait_brokers_metadata_offset(offset, PUSH_WAIT).await;
}

async fn create_acls(tc: &TestCluster, acls: Value) -> u64 {
    let url = format!("{}/v1/acls", tc.url("controller-1"));
    let (s, v) = admin(tc, Method::POST, &url, Some(&json!({ "acls": acls }))).await;
    assert_eq!(s, 201, "create ACLs: {v}");
    v["metadata_offset"].as_u64().expect("metadata_offset")
}

fn binding(name: &str, pattern: &str, op: &str, perm: &str) -> Value {
    json!({"resource_type": "Topic", "resource_name": name, "pattern_type": pattern,
        "principal": "User:ANONYMOUS", "host": "*", "operation": op, "permission": perm})
}

async fn produce(tc: &TestCluster, broker: &str, topic: &str) -> (u16, Value) {
    let url = format!("{}/v1/topics/{topic}/records", tc.url(broker));
    tc.post(&url, &json!({"records": [{"value": "v"}], "acks": "1"}))
        .await
}

fn assert_denied(what: &str, (s, v): (u16, Value), code: &str) {
    assert_eq!(s, 403, "{what}: {v}");
    assert_eq!(v["error_code"], code, "{what}: {v}");
}

async fn metadata_topics(tc: &TestCluster, broker: &str) -> Vec<String> {
    let (s, m) = tc.get(&format!("{}/v1/metadata", tc.url(broker))).await;
    assert_eq!(s, 200, "{m}");
    let mut names: Vec<String> = m["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_decide_like_kafka_on_every_broker_once_pushed() {
    let tc = start().await;
    let controller = tc.url("controller-1");

    // No ACLs: an anonymous client can create nothing, see nothing, write nothing.
    let topic = json!({"name": "x", "partitions": 1, "replication_factor": 1});
    assert_denied(
        "anonymous create topic",
        tc.post(&format!("{controller}/v1/topics"), &topic).await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    assert_denied(
        "anonymous producer id",
        tc.post(&format!("{controller}/v1/producer-ids"), &json!({}))
            .await,
        "CLUSTER_AUTHORIZATION_FAILED",
    );
    for name in ["orders-eu", "orders-secret", "other"] {
        let body = json!({"name": name, "partitions": 2, "replication_factor": 2});
        let (s, v) = admin(
            &tc,
            Method::POST,
            &format!("{controller}/v1/topics"),
            Some(&body),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    settle(&tc).await;
    for b in tc.broker_names() {
        let (s, v) = produce(&tc, &b, "orders-eu").await;
        assert_denied(
            "produce without ACLs",
            (s, v.clone()),
            "TOPIC_AUTHORIZATION_FAILED",
        );
        let msg = v["message"].as_str().unwrap();
        for part in ["User:ANONYMOUS", "Write", "Topic", "orders-eu"] {
            assert!(msg.contains(part), "{msg}");
        }
        assert!(
            metadata_topics(&tc, &b).await.is_empty(),
            "{b} hides undescribable topics"
        );
    }
    let (s, list) = tc.get(&format!("{controller}/v1/topics")).await;
    assert_eq!(
        (s, list["topics"].as_array().unwrap().len()),
        (200, 0),
        "{list}"
    );
    assert_denied(
        "anonymous lists ACLs",
        tc.get(&format!("{controller}/v1/acls")).await,
        "CLUSTER_AUTHORIZATION_FAILED",
    );
    assert_denied(
        "anonymous creates an ACL",
        tc.post(
            &format!("{controller}/v1/acls"),
            &json!({"acls": [binding("orders-", "PREFIXED", "Write", "Allow")]}),
        )
        .await,
        "CLUSTER_AUTHORIZATION_FAILED",
    );
    assert_denied(
        "anonymous joins a group",
        tc.post(
            &format!("{}/v1/groups/g1/members", tc.url("broker-1")),
            &json!({"topics": ["orders-eu"]}),
        )
        .await,
        "GROUP_AUTHORIZATION_FAILED",
    );

    // Allow Write on PREFIXED orders-, Deny Write on LITERAL orders-secret.
    let offset = create_acls(
        &tc,
        json!([
            binding("orders-", "PREFIXED", "Write", "Allow"),
            binding("orders-secret", "LITERAL", "Write", "Deny"),
        ]),
    )
    .await;
    tc.wait_brokers_metadata_offset(offset, PUSH_WAIT).await;
    for b in tc.broker_names() {
        let (s, v) = produce(&tc, &b, "orders-eu").await;
        assert_eq!(s, 200, "{b}: prefixed allow: {v}");
        assert_denied(
            "literal deny under the allowed prefix",
            produce(&tc, &b, "orders-secret").await,
            "TOPIC_AUTHORIZATION_FAILED",
        );
        assert_denied(
            "no ACL",
            produce(&tc, &b, "other").await,
            "TOPIC_AUTHORIZATION_FAILED",
        );
        // Write implies Describe; a Deny of Write does not deny Describe.
        assert_eq!(
            metadata_topics(&tc, &b).await,
            ["orders-eu", "orders-secret"]
        );
    }
    // Write on some topic stands for IdempotentWrite.
    let (s, v) = tc
        .post(&format!("{controller}/v1/producer-ids"), &json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    // Write gives no Read: no fetch until a Read ACL is pushed.
    let leader = ferry_test_cluster::find_leader(tc.http(), &tc.broker_urls(), "orders-eu", 0)
        .await
        .expect("a leader");
    // Keyless records may all have gone to partition 1, and acks=1 leaves the
    // HW behind: put one committed record where the fetch below reads.
    let (s, v) = tc
        .post(
            &format!("{leader}/v1/topics/orders-eu/partitions/0/records"),
            &json!({"records": [{"value": "p0"}], "acks": "all"}),
        )
        .await;
    assert_eq!(s, 200, "produce to partition 0: {v}");
    let fetch = format!("{leader}/v1/topics/orders-eu/partitions/0/records?offset=0");
    assert_denied(
        "fetch without Read",
        tc.get(&fetch).await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    let offset = create_acls(
        &tc,
        json!([binding("orders-eu", "LITERAL", "Read", "Allow")]),
    )
    .await;
    tc.wait_brokers_metadata_offset(offset, PUSH_WAIT).await;
    let (s, v) = tc.get(&fetch).await;
    assert_eq!(s, 200, "fetch with Read: {v}");
    assert!(!v["records"].as_array().unwrap().is_empty(), "{v}");

    // Listing by filter, MATCH included.
    let (s, v) = admin(
        &tc,
        Method::GET,
        &format!("{controller}/v1/acls?resource_name=orders-secret&pattern_type=MATCH"),
        None,
    )
    .await;
    assert_eq!((s, v["acls"].as_array().unwrap().len()), (200, 2), "{v}");
    let (_, v) = admin(
        &tc,
        Method::GET,
        &format!("{controller}/v1/acls?pattern_type=PREFIXED"),
        None,
    )
    .await;
    assert_eq!(v["acls"].as_array().unwrap().len(), 1, "{v}");

    // Hostile bindings are refused with the reason.
    for (bad, why) in [
        (
            json!({"acls": [{"resource_type": "Topic", "resource_name": "t", "pattern_type": "LITERAL", "principal": "alice", "host": "*", "operation": "Read", "permission": "Allow"}]}),
            "principal",
        ),
        (
            json!({"acls": [{"resource_type": "Topic", "resource_name": "t", "pattern_type": "LITERAL", "principal": "User:a", "host": "evil.example", "operation": "Read", "permission": "Allow"}]}),
            "host",
        ),
        (
            json!({"acls": [{"resource_type": "Topic", "resource_name": "", "pattern_type": "LITERAL", "principal": "User:a", "host": "*", "operation": "Read", "permission": "Allow"}]}),
            "resource_name",
        ),
        (
            json!({"acls": [{"resource_type": "Cluster", "resource_name": "c", "pattern_type": "LITERAL", "principal": "User:a", "host": "*", "operation": "Alter", "permission": "Allow"}]}),
            "Cluster",
        ),
        (
            json!({"acls": [{"resource_type": "Topic", "resource_name": "t", "pattern_type": "LITERAL", "principal": "User:a", "host": "*", "operation": "Sudo", "permission": "Allow"}]}),
            "Sudo",
        ),
        (json!({"acls": []}), "1 to 1000"),
    ] {
        let (s, v) = admin(
            &tc,
            Method::POST,
            &format!("{controller}/v1/acls"),
            Some(&bad),
        )
        .await;
        assert_eq!(
            (s, v["error_code"].clone()),
            (400, json!("INVALID_REQUEST")),
            "{bad}: {v}"
        );
        assert!(v["message"].as_str().unwrap().contains(why), "{why}: {v}");
    }

    // Delete by filter: the deny goes, and every broker then lets the write through.
    let body = json!({"filters": [{"resource_name": "orders-secret", "permission": "Deny"}]});
    let (s, v) = admin(
        &tc,
        Method::DELETE,
        &format!("{controller}/v1/acls"),
        Some(&body),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["deleted"].as_array().unwrap().len(), 1, "{v}");
    tc.wait_brokers_metadata_offset(v["metadata_offset"].as_u64().unwrap(), PUSH_WAIT)
        .await;
    for b in tc.broker_names() {
        let (s, v) = produce(&tc, &b, "orders-secret").await;
        assert_eq!(s, 200, "{b} after the deny went: {v}");
    }
}

/// `method url` as `user` (HTTP Basic).
async fn as_user(
    tc: &TestCluster,
    (user, password): (&str, &str),
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = tc
        .http()
        .request(method, url)
        .basic_auth(user, Some(password));
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("an answer");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// With client authentication on: a super user needs no ACL (also on the
/// brokers), a user with Read but no Write on a topic is refused the produce
/// and may fetch, and sees only the topics it may Describe.
#[tokio::test(flavor = "multi_thread")]
async fn authenticated_users_get_what_their_acls_and_super_users_allow() {
    let tc = TestCluster::builder(1, 2)
        .client_auth_basic()
        .acl_authorizer(&[&format!("User:{ADMIN_USER}")], false)
        .start()
        .await;
    let password = tc.admin_password().expect("admin password").to_string();
    let admin_who = (ADMIN_USER, password.as_str());
    let alice = ("alice", "alice-secret-1");
    let controller = tc.url("controller-1");
    // The active controller creates the bootstrap user once it leads.
    let users = format!("{controller}/v1/users");
    let ready = ferry_test_cluster::wait_for(PUSH_WAIT, || async {
        let (s, v) = as_user(&tc, admin_who, Method::GET, &users, None).await;
        (s == 200 && !v["users"].as_array()?.is_empty()).then_some(())
    })
    .await;
    assert!(ready.is_some(), "the bootstrap user was not created");

    // The super user creates a user, topics and an ACL without any ACL of its own.
    let (s, v) = as_user(
        &tc,
        admin_who,
        Method::PUT,
        &format!("{users}/alice"),
        Some(&json!({"password": alice.1})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    for name in ["readable", "hidden"] {
        let body = json!({"name": name, "partitions": 1, "replication_factor": 2});
        let (s, v) = as_user(
            &tc,
            admin_who,
            Method::POST,
            &format!("{controller}/v1/topics"),
            Some(&body),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let read = json!({"acls": [{"resource_type": "Topic", "resource_name": "readable", "pattern_type": "LITERAL",
        "principal": "User:alice", "host": "*", "operation": "Read", "permission": "Allow"}]});
    let (s, v) = as_user(
        &tc,
        admin_who,
        Method::POST,
        &format!("{controller}/v1/acls"),
        Some(&read),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    tc.wait_brokers_metadata_offset(v["metadata_offset"].as_u64().unwrap(), PUSH_WAIT)
        .await;
    // Alice may not manage ACLs or users.
    let (s, v) = as_user(
        &tc,
        alice,
        Method::GET,
        &format!("{controller}/v1/acls"),
        None,
    )
    .await;
    assert_eq!(
        (s, v["error_code"].clone()),
        (403, json!("CLUSTER_AUTHORIZATION_FAILED")),
        "{v}"
    );

    let records = json!({"records": [{"value": "from-admin"}], "acks": "all"});
    for b in tc.broker_urls() {
        let url = format!("{b}/v1/topics/readable/records");
        let (s, v) = as_user(&tc, alice, Method::POST, &url, Some(&records)).await;
        assert_eq!(s, 403, "alice produces on {b}: {v}");
        assert_eq!(v["error_code"], "TOPIC_AUTHORIZATION_FAILED", "{v}");
        assert!(v["message"].as_str().unwrap().contains("User:alice"), "{v}");
        let (s, v) = as_user(&tc, admin_who, Method::POST, &url, Some(&records)).await;
        assert_eq!(s, 200, "the super user produces on {b}: {v}");
        let (s, m) = as_user(&tc, alice, Method::GET, &format!("{b}/v1/metadata"), None).await;
        assert_eq!(s, 200, "{m}");
        let names: Vec<&str> = m["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["topic"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["readable"], "{b} hides what alice may not Describe");
    }
    let leader = m_leader(&tc, admin_who, "readable").await;
    let fetch = format!("{leader}/v1/topics/readable/partitions/0/records?offset=0");
    let (s, v) = as_user(&tc, alice, Method::GET, &fetch, None).await;
    assert_eq!(s, 200, "alice fetches with Read: {v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 2, "{v}");
}

/// The leader URL of partition 0 of `topic`, from broker-1's metadata as `who`.
async fn m_leader(tc: &TestCluster, who: (&str, &str), topic: &str) -> String {
    let url = format!("{}/v1/metadata?topics={topic}", tc.url("broker-1"));
    let (_, m) = as_user(tc, who, Method::GET, &url, None).await;
    m["topics"][0]["partitions"][0]["leader_url"]
        .as_str()
        .expect("a leader")
        .to_string()
}
