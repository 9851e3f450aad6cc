//! The one way a service error becomes an HTTP answer: an [`ErrorBody`] with
//! the code's status and hints, one `Retry-After` rule, a 307 for a redirect,
//! and one ERROR log line for a fault of this node.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferry_common::{ErrorBody, ErrorCode};

/// A service error as the HTTP layer sees it. Each service implements it for
/// its one error enum; the code mapping itself stays in the service.
pub trait ApiError: std::fmt::Display {
    /// The Kafka-style code: decides the status, `retriable` and `Retry-After`.
    fn code(&self) -> ErrorCode;

    /// Adds code-specific hints (leader, offsets) to the body.
    fn add_hints(&self, _body: &mut ErrorBody) {}

    /// Base URL of the node that should serve this request instead. The answer
    /// is then a 307 (method and body kept, so `curl -L` replays a write there),
    /// whose `Location` [`Observe`](crate::Observe) completes with the request path.
    fn redirect_to(&self) -> Option<&str> {
        None
    }

    /// A fault of this node that a person must look at, logged once at ERROR
    /// (not the caller's mistake, not the cluster's transient state).
    fn is_internal(&self) -> bool;
}

/// Marks a 307 answer with the base URL of the node to replay it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect(pub String);

/// The JSON error body of `err`: code, message, `retriable` and its hints.
pub fn error_body<E: ApiError + ?Sized>(err: &E) -> ErrorBody {
    let mut body = ErrorBody::new(err.code(), err.to_string());
    err.add_hints(&mut body);
    body
}

/// The HTTP answer for `err`: the code's status (307 for a redirect) with the
/// [`error_body`], and `Retry-After: 1` when the code is retriable and the
/// answer is not a redirect (the redirect is the way to retry).
pub fn error_response<E: ApiError + ?Sized>(err: &E) -> Response {
    let body = error_body(err);
    if err.is_internal() {
        tracing::error!(error_code = %body.error_code, error = %body.message, "request failed");
    }
    respond(body, err.redirect_to().map(str::to_string))
}

/// Sends `body` with its code's status, or as a 307 towards `redirect`.
pub(crate) fn respond(body: ErrorBody, redirect: Option<String>) -> Response {
    let code = body.error_code;
    let status = match redirect {
        Some(_) => StatusCode::TEMPORARY_REDIRECT,
        None => {
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    let mut res = (status, Json(body)).into_response();
    match redirect {
        Some(url) => {
            res.extensions_mut().insert(Redirect(url));
        }
        None if code.is_retriable() => {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        None => {}
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestError;

    #[test]
    fn body_has_code_message_and_hints() {
        let b = error_body(&TestError::NotLeader {
            url: Some("http://c2".into()),
        });
        assert_eq!(b.error_code, ErrorCode::NotController);
        assert_eq!(b.message, "not the leader");
        assert!(b.retriable);
        assert_eq!(b.leader_id, Some(2));
        assert_eq!(b.leader_url.as_deref(), Some("http://c2"));
    }

    #[test]
    fn retriable_without_redirect_says_retry_after() {
        let res = error_response(&TestError::NotLeader { url: None });
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        assert!(res.extensions().get::<Redirect>().is_none());
    }

    #[test]
    fn redirect_is_a_307_without_retry_after() {
        let res = error_response(&TestError::NotLeader {
            url: Some("http://c2".into()),
        });
        assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
        assert!(res.headers().get(header::RETRY_AFTER).is_none());
        assert_eq!(
            res.extensions().get::<Redirect>(),
            Some(&Redirect("http://c2".into()))
        );
    }

    #[test]
    fn caller_mistakes_and_internal_faults_have_no_retry_after() {
        let res = error_response(&TestError::Invalid("bad".into()));
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.headers().get(header::RETRY_AFTER).is_none());
        let res = error_response(&TestError::Broken);
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().get(header::RETRY_AFTER).is_none());
    }

    /// Collects what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn only_internal_faults_are_logged_at_error_once() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::ERROR)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            error_response(&TestError::Invalid("bad".into()));
            error_response(&TestError::NotLeader { url: None });
            error_response(&TestError::Broken);
        });
        let text = String::from_utf8(out.0.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(" ERROR "), "{text}");
        assert!(text.contains("disk on fire"), "{text}");
        assert!(text.contains("UNKNOWN_SERVER_ERROR"), "{text}");
    }
}
