//! What both services' OpenAPI documents share: the error answers every
//! operation can give, and the check that a checked-in document matches the
//! code that generates it.
//!
//! Each route's own answers (its success body, `404`, `409`, ...) are written
//! on its handler; the answers any request can get from the shared HTTP layer
//! (body limits and timeouts, the server's request bound, internal errors) are
//! added here so they cannot be forgotten on a route.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// Environment variable that makes [`check_document`] rewrite the file.
pub const UPDATE_ENV: &str = "FERRY_UPDATE_OPENAPI";

/// An error answer with the [`crate::ErrorBody`] schema.
pub fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// Adds the error answers the shared HTTP layer can give to every operation
/// that does not document them itself.
pub fn add_common_errors(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = path.starts_with("/v1/");
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_to_operation(op, public);
        }
    }
}

fn add_to_operation(op: &mut Operation, public: bool) {
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    add(
        "500",
        "UNKNOWN_SERVER_ERROR or KAFKA_STORAGE_ERROR: this node failed",
    );
    add(
        "503",
        "The node is at its bound of requests in flight (with Retry-After), \
         or the cluster cannot serve this yet (see error_code, retriable)",
    );
    if public {
        add(
            "401",
            "SASL_AUTHENTICATION_FAILED: client authentication is on (security.client_auth = \"basic\") \
             and the request has no valid HTTP Basic credentials (WWW-Authenticate: Basic)",
        );
    }
    let has_body = op.request_body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    if has_body || has_params {
        add(
            "400",
            "INVALID_REQUEST: malformed parameters or body (the message says which field)",
        );
    }
    if has_body {
        add(
            "408",
            "REQUEST_BODY_TIMED_OUT: the body was sent too slowly",
        );
        add(
            "413",
            "REQUEST_TOO_LARGE: the body exceeds the node's limit",
        );
        add(
            "415",
            "UNSUPPORTED_MEDIA_TYPE: the body is not application/json",
        );
    }
}

/// `GET /healthz`, whose handler (`ferry_http::ops::healthz`) both
/// services share; described here so the HTTP glue needs no documentation types.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is up: `{\"status\": \"ok\"}`", body = Object)))]
pub fn healthz() {}

/// `GET /openapi.json`, served by `ferry_http::document` on both services.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
pub fn openapi_json() {}

/// The document as checked in: pretty JSON with a trailing newline.
pub fn render(doc: &OpenApi) -> String {
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// Compares `doc` with `openapi.json` in `crate_dir`; with [`UPDATE_ENV`]`=1`
/// rewrites the file instead. `Err` says what differs and how to regenerate.
pub fn check_document(doc: &OpenApi, crate_dir: &str) -> Result<(), String> {
    let path = std::path::Path::new(crate_dir).join("openapi.json");
    let path = path.as_path();
    let generated = render(doc);
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        return std::fs::write(path, &generated)
            .map_err(|e| format!("cannot write {}: {e}", path.display()));
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    if checked_in == generated {
        return Ok(());
    }
    let line = checked_in
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
    Err(format!(
        "{} differs from the document the code generates (first at line {}); \
         regenerate with `{UPDATE_ENV}=1 cargo test -p ferry-controller -p ferry-broker --lib openapi` \
         and commit the result",
        path.display(),
        line + 1
    ))
}
