//! Who may hand a broker a metadata snapshot: only the active controller,
//! after a linearizable read point. A broker deletes partition directories by
//! what an image at least as new as its registration lacks, so an image from a
//! lagging follower must never reach it.

mod common;

use common::{start_cluster, NodeIdentity, Quorum, FAST};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenario_3_metadata_snapshots_are_served_only_by_the_active_controller() {
    let tc = start_cluster(3, FAST).await;
    let names = tc.controller_names();
    let leader = tc.agreed_leader(&names, Duration::from_secs(20)).await;

    for follower in names.iter().filter(|n| **n != leader) {
        let (status, v) = tc
            .get_as(
                NodeIdentity::Broker(1),
                follower,
                "/internal/v1/metadata/snapshot",
            )
            .await;
        assert_eq!(
            v["error_code"], "NOT_CONTROLLER",
            "{follower} must not serve its possibly stale image: {status} {v}"
        );
        assert_eq!(status, 307, "{v}");
        assert_eq!(v["leader_url"], tc.url(&leader), "{v}");
    }
    let (status, v) = tc
        .get_as(
            NodeIdentity::Broker(1),
            &leader,
            "/internal/v1/metadata/snapshot",
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["offset"].as_u64().unwrap_or(0) > 0, "{v}");
}
