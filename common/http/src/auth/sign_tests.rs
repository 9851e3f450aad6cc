use super::*;

const NOW: u64 = 1_800_000_000_000;

fn key() -> ClusterKey {
    ClusterKey::new(&[7u8; 32]).unwrap()
}

fn signer() -> Signer {
    Signer::fixed(key(), NodeIdentity::Broker(3))
}

fn signed(nonce: &str, ts: u64) -> HeaderMap {
    signer().headers_at(
        NodeIdentity::Broker(3),
        &Method::POST,
        "http://b1:9092/internal/v1/replica/fetch?x=1",
        b"{\"a\":1}",
        ts,
        nonce,
    )
}

fn check(v: &Verifier, h: &HeaderMap) -> Result<Verified, AuthFailure> {
    v.verify(&Method::POST, "/internal/v1/replica/fetch?x=1", h, NOW)
}

#[test]
fn a_signed_request_verifies_once_and_names_its_signer() {
    let v = Verifier::new(key());
    let h = signed("n1", NOW);
    let ok = check(&v, &h).unwrap();
    assert_eq!(ok.identity, NodeIdentity::Broker(3));
    assert_eq!(B64.encode(ok.content_hash), content_hash(b"{\"a\":1}"));
    assert_eq!(check(&v, &h), Err(AuthFailure::Replayed));
}

#[test]
fn tampered_path_method_query_or_identity_fail() {
    let v = Verifier::new(key());
    let h = signed("n1", NOW);
    for (m, p) in [
        (Method::POST, "/internal/v1/metadata/deltas?x=1"),
        (Method::POST, "/internal/v1/replica/fetch?x=2"),
        (Method::PUT, "/internal/v1/replica/fetch?x=1"),
    ] {
        assert_eq!(v.verify(&m, p, &h, NOW), Err(AuthFailure::BadSignature));
    }
    let mut other = h.clone();
    other.insert(NODE_HEADER, HeaderValue::from_static("broker:4"));
    assert_eq!(check(&v, &other), Err(AuthFailure::BadSignature));
    let mut body = h.clone();
    body.insert(
        CONTENT_HASH_HEADER,
        HeaderValue::from_str(&content_hash(b"{}")).unwrap(),
    );
    assert_eq!(check(&v, &body), Err(AuthFailure::BadSignature));
    let mut ts = h.clone();
    ts.insert(
        TIMESTAMP_HEADER,
        HeaderValue::from_str(&(NOW + 1).to_string()).unwrap(),
    );
    assert_eq!(check(&v, &ts), Err(AuthFailure::BadSignature));
    // A failed check does not burn the nonce: the genuine request still passes.
    assert!(check(&v, &h).is_ok());
}

#[test]
fn wrong_key_and_missing_headers_fail() {
    let v = Verifier::new(ClusterKey::new(&[8u8; 32]).unwrap());
    assert_eq!(check(&v, &signed("n", NOW)), Err(AuthFailure::BadSignature));
    for name in [
        NODE_HEADER,
        TIMESTAMP_HEADER,
        NONCE_HEADER,
        CONTENT_HASH_HEADER,
        SIGNATURE_HEADER,
    ] {
        let mut h = signed("n", NOW);
        h.remove(name);
        assert_eq!(
            check(&Verifier::new(key()), &h),
            Err(AuthFailure::Missing(name))
        );
    }
}

#[test]
fn timestamps_out_of_the_window_fail_either_way() {
    let v = Verifier::new(key());
    let w = TIMESTAMP_WINDOW.as_millis() as u64;
    assert!(check(&v, &signed("a", NOW - w)).is_ok());
    assert!(check(&v, &signed("b", NOW + w)).is_ok());
    for (n, ts) in [("c", NOW - w - 1), ("d", NOW + w + 1), ("e", 0)] {
        assert!(
            matches!(
                check(&v, &signed(n, ts)),
                Err(AuthFailure::OutOfWindow { .. })
            ),
            "{ts}"
        );
    }
}

#[test]
fn a_full_nonce_cache_refuses_what_it_forgot_instead_of_admitting_replays() {
    let v = Verifier::with_bounds(key(), TIMESTAMP_WINDOW, 2);
    let first = signed("1", NOW - 3);
    assert!(check(&v, &first).is_ok());
    assert!(check(&v, &signed("2", NOW - 2)).is_ok());
    assert!(check(&v, &signed("3", NOW - 1)).is_ok());
    // "1" was forgotten to make room: its replay is still refused.
    assert_eq!(check(&v, &first), Err(AuthFailure::Replayed));
    assert!(check(&v, &signed("4", NOW)).is_ok());
}

#[test]
fn expired_nonces_are_forgotten() {
    let mut c = NonceCache::new(10);
    c.admit(1, 100, 0).unwrap();
    c.admit(2, 200, 0).unwrap();
    c.admit(3, 300, 150).unwrap();
    assert_eq!(c.order.len(), 2);
    assert!(!c.seen.contains(&1));
    assert_eq!(c.admit(2, 200, 150), Err(AuthFailure::Replayed));
}

#[test]
fn only_path_and_query_of_a_url_are_signed() {
    assert_eq!(path_and_query("http://h:1/a/b?c=d"), "/a/b?c=d");
    assert_eq!(path_and_query("https://h"), "/");
    assert_eq!(path_and_query("/x?y"), "/x?y");
}
