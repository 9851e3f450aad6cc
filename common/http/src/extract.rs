//! JSON-body and query-string extraction whose failures are answered with the
//! service's own error body, not axum's plain text.
//!
//! The parsing lives in [`json_body`] and [`query`], generic over the service
//! error ([`ExtractError`]); [`extractors!`](crate::extractors) declares the
//! service's `ApiJson<T>` / `ApiQuery<T>` newtypes on top of them, so handlers
//! keep destructuring `ApiJson(req)`.

use crate::limit::{read_body, BodyError};
use axum::extract::Request;
use axum::http::{header, Uri};
use ferry_common::body;
use serde::de::DeserializeOwned;

/// The service-error variants for the failures an extractor can hit.
pub trait ExtractError: Sized {
    /// Malformed or ill-typed body or query string (400).
    const INVALID_REQUEST: fn(String) -> Self;
    /// Body over the route's [`BodyLimit`](crate::limit::BodyLimit) (413).
    const BODY_TOO_LARGE: fn(String) -> Self;
    /// A content type that cannot carry JSON (415).
    const UNSUPPORTED_MEDIA_TYPE: fn(String) -> Self;
    /// A body that did not arrive within the route's read timeout (408).
    const BODY_TIMED_OUT: fn(String) -> Self;
}

/// Reads and parses a JSON body under the route's
/// [`BodyLimit`](crate::limit::BodyLimit). The content type is not enforced
/// beyond "can carry JSON", so that `curl -d` works.
pub async fn json_body<T, E>(req: Request) -> Result<T, E>
where
    T: DeserializeOwned,
    E: ExtractError,
{
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"));
    if !body::json_content_type_ok(ctype) {
        return Err(E::UNSUPPORTED_MEDIA_TYPE(body::unsupported_content_type(
            ctype,
        )));
    }
    // The texts are those of axum's own body rejections, which clients saw first.
    let bytes = read_body(req).await.map_err(|e| match e {
        BodyError::TooLarge => E::BODY_TOO_LARGE(
            "request body is too large: Failed to buffer the request body: length limit exceeded"
                .into(),
        ),
        BodyError::Unreadable(e) => E::INVALID_REQUEST(format!(
            "could not read the request body: Failed to buffer the request body: {e}"
        )),
        BodyError::TimedOut(after) => E::BODY_TIMED_OUT(format!(
            "the request body did not arrive within {} ms",
            after.as_millis()
        )),
    })?;
    parse_json(&bytes)
}

/// Parses a JSON body already read, naming what is wrong and where.
pub fn parse_json<T: DeserializeOwned, E: ExtractError>(bytes: &[u8]) -> Result<T, E> {
    body::parse_json(bytes).map_err(E::INVALID_REQUEST)
}

/// Parses the query string of `uri` (absent means empty).
pub fn query<T: DeserializeOwned, E: ExtractError>(uri: &Uri) -> Result<T, E> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|axum::extract::Query(v)| v)
        .map_err(|e| E::INVALID_REQUEST(format!("invalid query string: {}", e.body_text())))
}

/// Declares, in the calling module, the extractors `ApiJson<T>` (a JSON body,
/// see [`json_body`]) and `ApiQuery<T>` (a query string, see [`query`]) whose
/// rejection is the given service error type, which must implement
/// [`ExtractError`] and `IntoResponse` and be `pub` (it is part of the
/// extractors' public interface).
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use ferry_common::ErrorCode;
///
/// #[derive(Debug)]
/// pub enum MyError {
///     Invalid(String),
/// }
/// impl std::fmt::Display for MyError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         let MyError::Invalid(m) = self;
///         f.write_str(m)
///     }
/// }
/// impl ferry_http::ApiError for MyError {
///     fn code(&self) -> ErrorCode {
///         ErrorCode::InvalidRequest
///     }
///     fn is_internal(&self) -> bool {
///         false
///     }
/// }
/// impl ferry_http::ExtractError for MyError {
///     const INVALID_REQUEST: fn(String) -> Self = MyError::Invalid;
///     const BODY_TOO_LARGE: fn(String) -> Self = MyError::Invalid;
///     const UNSUPPORTED_MEDIA_TYPE: fn(String) -> Self = MyError::Invalid;
///     const BODY_TIMED_OUT: fn(String) -> Self = MyError::Invalid;
/// }
/// impl IntoResponse for MyError {
///     fn into_response(self) -> Response {
///         ferry_http::error_response(&self)
///     }
/// }
///
/// ferry_http::extractors!(MyError);
///
/// #[derive(serde::Deserialize)]
/// struct Create {
///     name: String,
/// }
///
/// async fn create(ApiJson(req): ApiJson<Create>) -> Result<String, MyError> {
///     Ok(req.name)
/// }
/// let _app: axum::Router = axum::Router::new().route("/", axum::routing::post(create));
/// ```
#[macro_export]
macro_rules! extractors {
    ($error:ty) => {
        /// A JSON body; malformed, oversized or ill-typed bodies answer with our error body.
        pub struct ApiJson<T>(pub T);

        impl<S, T> $crate::__macro_support::axum::extract::FromRequest<S> for ApiJson<T>
        where
            S: Send + Sync,
            T: $crate::__macro_support::serde::de::DeserializeOwned,
        {
            type Rejection = $error;

            async fn from_request(
                req: $crate::__macro_support::axum::extract::Request,
                _state: &S,
            ) -> Result<Self, Self::Rejection> {
                $crate::extract::json_body(req).await.map(ApiJson)
            }
        }

        /// A query string; an ill-typed one answers with our error body.
        pub struct ApiQuery<T>(pub T);

        impl<S, T> $crate::__macro_support::axum::extract::FromRequestParts<S> for ApiQuery<T>
        where
            S: Send + Sync,
            T: $crate::__macro_support::serde::de::DeserializeOwned,
        {
            type Rejection = $error;

            async fn from_request_parts(
                parts: &mut $crate::__macro_support::axum::http::request::Parts,
                _state: &S,
            ) -> Result<Self, Self::Rejection> {
                $crate::extract::query(&parts.uri).map(ApiQuery)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::testing::{read, TestError};
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde::Deserialize;
    use tower::ServiceExt;

    crate::extractors!(TestError);

    #[derive(Deserialize)]
    struct Create {
        name: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Page {
        limit: Option<u32>,
    }

    fn app() -> Router {
        let routes = Router::new()
            .route(
                "/create",
                post(|ApiJson(c): ApiJson<Create>| async move { c.name }),
            )
            .route(
                "/list",
                get(|ApiQuery(p): ApiQuery<Page>| async move { Json(p.limit) }),
            );
        crate::limit::with_body_limit(routes, 64)
    }

    async fn post_body(ctype: Option<&str>, body: &'static str) -> (u16, serde_json::Value) {
        let mut req = Request::post("/create");
        if let Some(ct) = ctype {
            req = req.header("content-type", ct);
        }
        let res = app()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let (status, _, json) = read(res).await;
        (status, json)
    }

    async fn get_query(uri: &str) -> (u16, serde_json::Value) {
        let res = app()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (status, _, json) = read(res).await;
        (status, json)
    }

    #[tokio::test]
    async fn well_formed_json_is_accepted_with_or_without_content_type() {
        for ctype in [
            None,
            Some("application/json"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let (s, _) = post_body(ctype, r#"{"name":"a"}"#).await;
            assert_eq!(s, 200, "{ctype:?}");
        }
    }

    #[tokio::test]
    async fn malformed_json_is_invalid_request() {
        let (s, v) = post_body(Some("application/json"), "{").await;
        assert_eq!(s, 400);
        assert_eq!(v["error_code"], "INVALID_REQUEST");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("malformed JSON"),
            "{v}"
        );
        let (s, v) = post_body(None, r#"{"name": 3}"#).await;
        assert_eq!(s, 400);
        assert!(
            v["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("invalid field"),
            "{v}"
        );
        let (s, v) = post_body(None, " ").await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap_or("").contains("empty"), "{v}");
    }

    #[tokio::test]
    async fn wrong_content_type_is_unsupported_media_type() {
        let (s, v) = post_body(Some("text/plain"), r#"{"name":"a"}"#).await;
        assert_eq!(s, 415);
        assert_eq!(v["error_code"], "UNSUPPORTED_MEDIA_TYPE");
        assert!(
            v["message"].as_str().unwrap_or("").contains("text/plain"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn oversized_body_is_request_too_large() {
        let big = r#"{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;
        let (s, v) = post_body(Some("application/json"), big).await;
        assert_eq!(s, 413);
        assert_eq!(v["error_code"], "REQUEST_TOO_LARGE");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("request body is too large"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn query_strings_parse_or_answer_invalid_request() {
        assert_eq!(get_query("/list").await, (200, serde_json::Value::Null));
        assert_eq!(
            get_query("/list?limit=5").await,
            (200, serde_json::json!(5))
        );
        for bad in ["/list?limit=x", "/list?limit=-1", "/list?unknown=1"] {
            let (s, v) = get_query(bad).await;
            assert_eq!(s, 400, "{bad}");
            assert_eq!(v["error_code"], "INVALID_REQUEST", "{bad}");
            assert!(
                v["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("invalid query string: "),
                "{v}"
            );
        }
    }
}
