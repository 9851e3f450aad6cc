//! The controller's OpenAPI 3.1 document, served at `GET /openapi.json` and
//! checked in as `controller/openapi.json`: the public API only
//! ([`super::clients`] and [`super::ops`]), not `/internal` or `/raft`.
//!
//! Each operation comes from the `#[utoipa::path]` on its handler and its
//! bodies from the `ToSchema` types in `ferry_common`; the errors any request
//! can get are added by [`ferry_common::openapi::add_common_errors`].

use super::AppState;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::LazyLock;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry controller",
        description = "Cluster metadata: brokers and topics."
    ),
    paths(
        super::clients::cluster,
        super::clients::brokers,
        super::clients::list_topics,
        super::clients::create_topic,
        super::clients::describe_topic,
        super::clients::delete_topic,
        super::clients::add_partitions,
        super::clients::allocate_producer_id,
        healthz,
        super::ops::readyz,
        super::ops::metrics,
        openapi_json,
    ),
    components(schemas(ferry_common::ErrorBody, ferry_common::ErrorCode))
)]
struct ApiDoc;

/// The generated document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    ferry_common::openapi::add_common_errors(&mut doc);
    doc
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(document);

pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

/// Liveness; the handler is [`ferry_http::ops::healthz`], shared by both
/// services and kept free of documentation types, so it is described here.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is up: `{\"status\": \"ok\"}`", body = Object)))]
#[allow(dead_code)]
fn healthz() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_document_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        if let Err(why) = ferry_common::openapi::check_document(&document(), &path) {
            panic!("{why}");
        }
    }

    #[test]
    fn every_error_code_is_in_the_schema() {
        let doc = serde_json::to_value(document()).unwrap();
        let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        let codes = codes.as_array().unwrap();
        for code in codes {
            let parsed: ferry_common::ErrorCode = serde_json::from_value(code.clone()).unwrap();
            assert_eq!(code, parsed.as_str());
        }
        for code in [
            "NOT_CONTROLLER",
            "TOPIC_ALREADY_EXISTS",
            "REQUEST_BODY_TIMED_OUT",
        ] {
            assert!(codes.iter().any(|c| c == code), "{code}");
        }
        let create = &doc["paths"]["/v1/topics"]["post"]["responses"];
        for status in [
            "201", "307", "400", "408", "409", "413", "415", "500", "503",
        ] {
            assert!(create.get(status).is_some(), "create topic lacks {status}");
        }
    }
}
