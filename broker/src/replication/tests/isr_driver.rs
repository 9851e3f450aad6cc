//! Scenario 9, the driver half: an ISR expansion the controller did not
//! answer stays in flight and is sent again, the same proposal, until an
//! answer settles it.

use super::{b, fill, hand_over, image, local, next_call, serve, state, Call};
use crate::membership::controller_client::ControllerClient;
use crate::partition::role::IsrProposal;
use crate::replication::isr::IsrDriver;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use ferry_common::internal::AlterPartitionRequest;
use ferry_common::metadata::PartitionState;
use ferry_common::{ErrorBody, ErrorCode};
use std::sync::Arc;
use tokio::sync::mpsc;

type Answer = Result<PartitionState, ErrorCode>;

/// A controller that hands every AlterPartition to the test and answers what it says.
async fn alter_partition(
    State(tx): State<mpsc::Sender<Call<AlterPartitionRequest, Answer>>>,
    Json(req): Json<AlterPartitionRequest>,
) -> Response {
    match hand_over(&tx, req).await {
        Some(Ok(committed)) => Json(committed).into_response(),
        Some(Err(code)) => {
            let body = ErrorBody {
                error_code: code,
                message: "stand-in controller".into(),
                leader_id: None,
                leader_url: None,
                retriable: true,
                extra: Default::default(),
            };
            let status = StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Json(body)).into_response()
        }
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn same_proposal(req: &AlterPartitionRequest, p: &IsrProposal) -> bool {
    req.new_isr == p.isr
        && req.leader_epoch == p.leader_epoch
        && req.partition_epoch == p.partition_epoch
}

#[tokio::test]
async fn scenario_9_isr_driver_resends_an_expansion_whose_outcome_is_unknown() {
    let (tx, mut rx) = mpsc::channel(8);
    let url = serve(
        axum::Router::new()
            .route("/internal/v1/alter-partition", post(alter_partition))
            .with_state(tx),
    )
    .await;
    // Broker 1 leads alone in the ISR at LEO 10; broker 2 catches up.
    let led = state(1, 1, 1, &[1]);
    let me = local(b(1), &image(&led, 1, "http://unused"));
    let part = me.part.clone();
    fill(&part.log, 10, 1);
    let Some(proposal) = part.on_follower_fetch(b(2), 10, b(1)) else {
        panic!("broker 2 caught up: it may join");
    };
    let driver = IsrDriver::new(
        me.node.clone(),
        Arc::new(ControllerClient::new(
            vec![url],
            crate::peer_client::test_signer(),
        )),
    );
    driver.propose(part.clone(), proposal.clone());

    let (req, reply) = next_call(&mut rx, "AlterPartition").await;
    assert!(same_proposal(&req, &proposal), "{req:?}");
    // A server error: the write may or may not have been committed.
    let _ = reply.send(Err(ErrorCode::UnknownServerError));
    // The leader goes on to LEO 20; broker 2 has not fetched past 10.
    fill(&part.log, 10, 1);

    let (req, reply) = next_call(&mut rx, "AlterPartition retry after an unknown outcome").await;
    assert!(same_proposal(&req, &proposal), "the same proposal: {req:?}");
    assert!(part.isr_in_flight(&proposal), "still in flight");
    part.maybe_advance_hw(b(1));
    assert_eq!(
        part.high_watermark(),
        10,
        "the joiner bounds the HW while the outcome is unknown"
    );

    // Committed after all.
    let _ = reply.send(Ok(state(1, 1, 2, &[1, 2])));
    let settled = async {
        while part.isr_in_flight(&proposal) {
            tokio::task::yield_now().await;
        }
    };
    assert!(
        tokio::time::timeout(super::PATIENCE, settled).await.is_ok(),
        "the committed answer settles it"
    );
    assert_eq!(part.state().isr, vec![b(1), b(2)]);
    part.maybe_advance_hw(b(1));
    assert_eq!(part.high_watermark(), 10);
}
