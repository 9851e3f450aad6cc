//! The request-body size limit ([`BodyLimit`], installed with
//! [`with_body_limit`]) and the reading of a body under it.
//!
//! A body over the limit is answered 413 only after the rest of it has been
//! read and thrown away: answering with unread bytes in the socket makes the
//! kernel reset the connection, and the client loses the answer. The draining
//! is bounded (see [`BodyLimit::max`]) so that an endless or stalled body
//! cannot hold the server; past the bounds the answer goes out and the
//! connection closes, the client may then miss it.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Request};
use axum::{Extension, Router};
use std::pin::Pin;
use std::time::Duration;

/// The least a [`BodyLimit`] reads and discards past its limit: a client that
/// overshoots by a usual-size request still gets the answer.
pub const DRAIN_BYTES_MIN: usize = 16 * 1024 * 1024;

/// The longest a [`BodyLimit`] spends discarding an oversized body: enough
/// for [`DRAIN_BYTES_MIN`] at 100 Mbit/s, short enough that a stalled client
/// does not hold a task for long.
pub const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The limit where none is installed (axum's default).
pub const DEFAULT_MAX: usize = 2 * 1024 * 1024;

/// How long a whole body may take to arrive where no other timeout is set:
/// a client trickling a body a byte at a time must not hold a task forever.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes a request body may hold, and how much of an oversized one is
/// drained before answering.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    pub(crate) max: usize,
    pub(crate) drain_bytes: usize,
    pub(crate) drain_time: Duration,
    pub(crate) read_timeout: Duration,
}

impl BodyLimit {
    /// A body may hold `max` bytes; of a larger one up to
    /// `max(max, DRAIN_BYTES_MIN)` more bytes are read and discarded, for at
    /// most [`DRAIN_TIME`], before the 413 goes out.
    pub fn max(max: usize) -> Self {
        BodyLimit {
            max,
            drain_bytes: max.max(DRAIN_BYTES_MIN),
            drain_time: DRAIN_TIME,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }

    /// The same limit with the whole body due within `timeout` of the first read.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The limit installed for `req`, or [`DEFAULT_MAX`].
    pub fn of(req: &Request) -> Self {
        req.extensions()
            .get::<BodyLimit>()
            .copied()
            .unwrap_or_else(|| BodyLimit::max(DEFAULT_MAX))
    }

    /// Reads and discards the rest of an oversized body of which `seen` bytes
    /// are read, unless it is longer than the drain bound, stalls past the
    /// time bound or breaks (the connection will then close).
    async fn drain(&self, mut body: Body, mut seen: u64) {
        let bound = self.max as u64 + self.drain_bytes as u64;
        let discard = async {
            // What is still declared (Content-Length) counts before it arrives.
            if seen + body.size_hint().lower() > bound {
                return false;
            }
            while let Some(data) = next_frame(&mut body).await {
                match data {
                    Ok(data) => seen += data.len() as u64,
                    Err(_) => return false,
                }
                if seen > bound {
                    return false;
                }
            }
            true
        };
        let drained = tokio::time::timeout(self.drain_time, discard).await;
        if drained != Ok(true) {
            tracing::debug!(
                max = self.max,
                "oversized request body not drained; the connection will close"
            );
        }
    }
}

/// Applies `max` to every route of `router`: to [`crate::extractors!`]'s
/// `ApiJson`, and (as [`DefaultBodyLimit`]) to axum's own body extractors,
/// which do not drain.
pub fn with_body_limit<S>(router: Router<S>, max: usize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    install(router, BodyLimit::max(max))
}

/// Applies `limit` (size and read timeout) to every route of `router`, as
/// [`with_body_limit`] does.
pub fn with_body_limits<S>(router: Router<S>, limit: BodyLimit) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    install(router, limit)
}

fn install<S>(router: Router<S>, limit: BodyLimit) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(DefaultBodyLimit::max(limit.max))
        .layer(Extension(limit))
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over the request's [`BodyLimit`].
    TooLarge,
    /// The connection failed or the framing was invalid.
    Unreadable(axum::Error),
    /// The body was still arriving when the read timeout passed.
    TimedOut(Duration),
}

/// Reads the whole body of `req` under its [`BodyLimit`], draining an
/// oversized one within the limit's bounds before reporting it.
pub(crate) async fn read_body(req: Request) -> Result<Bytes, BodyError> {
    let limit = BodyLimit::of(&req);
    tokio::time::timeout(limit.read_timeout, read_limited(req, limit))
        .await
        .unwrap_or(Err(BodyError::TimedOut(limit.read_timeout)))
}

async fn read_limited(req: Request, limit: BodyLimit) -> Result<Bytes, BodyError> {
    let mut body = req.into_body();
    let declared = body.size_hint().lower();
    if declared > limit.max as u64 {
        limit.drain(body, 0).await;
        return Err(BodyError::TooLarge);
    }
    // Bounded by the limit just checked; usually exact (Content-Length).
    let mut buf = Vec::with_capacity(declared as usize);
    loop {
        match next_frame(&mut body).await {
            None => return Ok(Bytes::from(buf)),
            Some(Err(e)) => return Err(BodyError::Unreadable(e)),
            Some(Ok(data)) if data.len() > limit.max - buf.len() => {
                let seen = (buf.len() + data.len()) as u64;
                limit.drain(body, seen).await;
                return Err(BodyError::TooLarge);
            }
            Some(Ok(data)) => buf.extend_from_slice(&data),
        }
    }
}

/// The next data of `body` (trailers are skipped), or `None` at its end.
async fn next_frame(body: &mut Body) -> Option<Result<Bytes, axum::Error>> {
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame.map(|f| f.into_data()) {
            Ok(Ok(data)) => return Some(Ok(data)),
            Ok(Err(_trailers)) => continue,
            Err(e) => return Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{install, with_body_limit, BodyLimit};
    use crate::extract::json_body;
    use crate::testing::TestError;
    use axum::body::{Body, Bytes};
    use axum::extract::rejection::BytesRejection;
    use axum::http::Request;
    use axum::routing::post;
    use axum::Router;
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tower::ServiceExt;

    /// No exchange in these tests may take longer, whatever the server does.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn routes() -> Router {
        Router::new()
            .route(
                "/create",
                post(|req: Request<Body>| async move {
                    let v = json_body::<serde_json::Value, TestError>(req).await?;
                    Ok::<_, TestError>(v.to_string())
                }),
            )
            .route(
                "/axum",
                post(|r: Result<Bytes, BytesRejection>| async move {
                    r.err().map(|e| e.body_text()).unwrap_or_default()
                }),
            )
    }

    async fn serve(app: Router) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// The request head of a JSON POST to `/create`; `len` None is chunked.
    fn head(len: Option<usize>) -> String {
        let framing = match len {
            Some(n) => format!("content-length: {n}"),
            None => "transfer-encoding: chunked".to_string(),
        };
        format!(
            "POST /create HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\
             content-type: application/json\r\n{framing}\r\n\r\n"
        )
    }

    /// `data` as one chunk of a chunked body.
    fn chunk(data: &[u8]) -> Vec<u8> {
        let mut c = format!("{:x}\r\n", data.len()).into_bytes();
        c.extend_from_slice(data);
        c.extend_from_slice(b"\r\n");
        c
    }

    /// Writes `request`, then reads the answer up to the server's close.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(request).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The status line and JSON body of a raw answer.
    fn parse(answer: &str) -> (&str, serde_json::Value) {
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
        let status = head.lines().next().unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or_default())
    }

    #[tokio::test]
    async fn oversized_body_under_the_drain_bound_always_gets_the_413() {
        let addr = serve(with_body_limit(routes(), 64 * 1024)).await;
        let body = vec![b' '; 8 * 1024 * 1024];
        let declared = [head(Some(body.len())).into_bytes(), body.clone()].concat();
        let mut chunked = head(None).into_bytes();
        for part in body.chunks(256 * 1024) {
            chunked.extend(chunk(part));
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        // Before draining, the unread rest made the kernel reset the connection
        // in (nearly) every run; 20 tries make a lucky pass unlikely.
        for i in 0..20 {
            let request = if i % 2 == 0 { &declared } else { &chunked };
            let answer = tokio::time::timeout(PATIENCE, exchange(addr, request)).await;
            let answer = match answer {
                Ok(Ok(a)) => a,
                other => panic!("try {i}: no answer: {other:?}"),
            };
            let (status, v) = parse(&answer);
            assert!(status.starts_with("HTTP/1.1 413"), "try {i}: {answer}");
            assert_eq!(v["error_code"], "REQUEST_TOO_LARGE", "try {i}: {answer}");
        }
    }

    #[tokio::test]
    async fn body_past_the_drain_bound_is_cut_off_at_once() {
        let limit = BodyLimit {
            max: 1024,
            drain_bytes: 64 * 1024,
            drain_time: PATIENCE * 10,
            read_timeout: PATIENCE * 10,
        };
        let addr = serve(install(routes(), limit)).await;

        // Declared too long to drain: answered before a byte of body is read.
        let request = head(Some(10 * 1024 * 1024));
        let answer = tokio::time::timeout(PATIENCE, exchange(addr, request.as_bytes())).await;
        let answer = answer.expect("answered without waiting for the body");
        let answer = answer.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse(&answer).1["error_code"], "REQUEST_TOO_LARGE");

        // Endless: the server stops reading past the bound and closes, so the
        // sender fails.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let endless = async {
            s.write_all(head(None).as_bytes()).await?;
            let piece = chunk(&[b' '; 16 * 1024]);
            loop {
                s.write_all(&piece).await?;
            }
        };
        let sent: Result<std::io::Result<()>, _> = tokio::time::timeout(PATIENCE, endless).await;
        assert!(matches!(sent, Ok(Err(_))), "{sent:?}");
    }

    #[tokio::test]
    async fn stalled_oversized_body_is_answered_after_the_drain_time() {
        let limit = BodyLimit {
            max: 1024,
            drain_bytes: 1024 * 1024,
            drain_time: Duration::from_millis(200),
            read_timeout: PATIENCE * 10,
        };
        let addr = serve(install(routes(), limit)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let request = [head(Some(512 * 1024)).into_bytes(), vec![b' '; 8 * 1024]].concat();
        s.write_all(&request).await.unwrap();
        // The rest never comes; the connection stays open.
        let mut answer = Vec::new();
        let read = tokio::time::timeout(PATIENCE, s.read_to_end(&mut answer)).await;
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        let answer = String::from_utf8_lossy(&answer);
        let (status, v) = parse(&answer);
        assert!(status.starts_with("HTTP/1.1 413"), "{answer}");
        assert_eq!(v["error_code"], "REQUEST_TOO_LARGE");
    }

    async fn post_to(app: &Router, path: &str, body: String) -> (u16, serde_json::Value, String) {
        let req = Request::post(path).body(Body::from(body)).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            status,
            serde_json::from_str(&text).unwrap_or_default(),
            text,
        )
    }

    #[tokio::test]
    async fn limit_is_inclusive_and_answered_in_axums_words() {
        let app = with_body_limit(routes(), 16);
        let fits = format!("\"{}\"", "a".repeat(14));
        let (s, _, _) = post_to(&app, "/create", fits.clone()).await;
        assert_eq!(s, 200);
        let (s, v, _) = post_to(&app, "/create", format!("{fits} ")).await;
        assert_eq!(s, 413);
        // axum's own extractors get the same limit (the controller's Raft
        // routes use them), and the message is the one axum's gave.
        let (s, _, axum_text) = post_to(&app, "/axum", format!("{fits} ")).await;
        assert_eq!(s, 200);
        assert_eq!(
            v["message"],
            format!("request body is too large: {axum_text}")
        );
        let (s, _, none) = post_to(&app, "/axum", fits).await;
        assert_eq!((s, none.as_str()), (200, ""));
    }

    #[tokio::test]
    async fn without_a_limit_installed_axums_default_applies() {
        let (s, _, _) = post_to(&routes(), "/create", " ".repeat(super::DEFAULT_MAX + 1)).await;
        assert_eq!(s, 413);
        let fits = format!("{}1", " ".repeat(super::DEFAULT_MAX - 1));
        let (s, _, _) = post_to(&routes(), "/create", fits).await;
        assert_eq!(s, 200);
    }
}
