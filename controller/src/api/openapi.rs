//! The controller's OpenAPI 3.1 document, served at `GET /openapi.json` and
//! checked in as `controller/openapi.json`: the public API only
//! ([`super::clients`] and [`super::ops`]), not `/internal` or `/raft`.
//!
//! Each operation comes from the `#[utoipa::path]` on its handler and its
//! bodies from the `ToSchema` types in `ferry_common`; the errors any request
//! can get are added by [`ferry_common::openapi::add_common_errors`].

use super::AppState;
use axum::Router;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry controller",
        description = "Cluster metadata: brokers, topics and users."
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
        super::acls::create,
        super::acls::list,
        super::acls::delete,
        super::users::list_users,
        super::users::upsert_user,
        super::users::delete_user,
        ferry_common::openapi::healthz,
        super::ops::readyz,
        super::ops::metrics,
        ferry_common::openapi::openapi_json,
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

/// `GET /openapi.json`.
pub fn routes() -> Router<AppState> {
    ferry_http::document::routes("/openapi.json", &document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_document_matches_the_code() {
        let dir = env!("CARGO_MANIFEST_DIR");
        if let Err(why) = ferry_common::openapi::check_document(&document(), dir) {
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
