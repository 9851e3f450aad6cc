//! The broker's OpenAPI 3.1 document, served at `GET /openapi.json` and
//! checked in as `broker/openapi.json`: the public API only (`/v1/...` and
//! ops), not `/internal`.
//!
//! Each operation comes from the `#[utoipa::path]` on its handler and its
//! bodies from the `ToSchema` types in `ferry_common`; the errors any request
//! can get are added by [`ferry_common::openapi::add_common_errors`].

use super::AppState;
use axum::Router;
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::openapi::{RefOr, Required};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry broker",
        description = "Produce, fetch, offsets, consumer groups."
    ),
    paths(
        super::records::produce_topic,
        super::records::produce_partition,
        super::records::fetch_records,
        super::records::offsets,
        super::metadata::metadata,
        super::replicas::replicas,
        super::groups::commit,
        super::groups::fetch,
        super::groups::list,
        super::groups::describe,
        super::groups::join,
        super::groups::leave,
        super::groups::heartbeat,
        ferry_common::openapi::healthz,
        super::ops::readyz,
        super::ops::metrics,
        ferry_common::openapi::openapi_json,
    ),
    components(schemas(ferry_common::ErrorBody, ferry_common::ErrorCode))
)]
struct ApiDoc;

/// The fields [`super::error`] adds to an `OFFSET_OUT_OF_RANGE` body.
const OFFSET_OUT_OF_RANGE_FIELDS: [&str; 3] =
    ["log_start_offset", "log_end_offset", "high_watermark"];

/// The heartbeat's body may be empty (see [`super::groups`]).
const OPTIONAL_BODY: &str = "/v1/groups/{group}/members/{member}/heartbeat";

/// The generated document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    ferry_common::openapi::add_common_errors(&mut doc);
    let heartbeat = doc.paths.paths.get_mut(OPTIONAL_BODY);
    if let Some(body) = heartbeat.and_then(|p| p.post.as_mut()?.request_body.as_mut()) {
        body.required = Some(Required::False);
    }
    let error_body = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ErrorBody"));
    if let Some(RefOr::T(Schema::Object(body))) = error_body {
        for field in OFFSET_OUT_OF_RANGE_FIELDS {
            let mut offset = Object::with_type(Type::Integer);
            offset.minimum = Some(0.into());
            offset.description = Some("With OFFSET_OUT_OF_RANGE only.".into());
            body.properties.insert(field.into(), offset.into());
        }
    }
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
    fn offset_out_of_range_hints_are_in_the_error_body() {
        let doc = serde_json::to_value(document()).unwrap();
        let props = &doc["components"]["schemas"]["ErrorBody"]["properties"];
        for field in OFFSET_OUT_OF_RANGE_FIELDS
            .iter()
            .chain(&["leader_id", "leader_url"])
        {
            assert!(props.get(*field).is_some(), "{field}");
        }
        let fetch = &doc["paths"]["/v1/topics/{topic}/partitions/{partition}/records"]["get"];
        for status in ["200", "400", "404", "409", "416", "500", "503"] {
            assert!(
                fetch["responses"].get(status).is_some(),
                "fetch lacks {status}"
            );
        }
    }
}
