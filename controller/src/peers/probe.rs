//! The controller's own liveness probe of a broker: one TCP connect to its
//! advertised address. Only a refusal is evidence of death (see
//! `service::suspicion`); the probe never sends a request, so a paused
//! broker, whose kernel still completes the handshake, reads as alive.

use crate::service::suspicion::ProbeOutcome;
use std::time::Duration;

/// How long the connect may take before the probe counts as timed out.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Connects to the `host:port` of `url` (an advertised broker URL).
pub async fn probe(url: &str) -> ProbeOutcome {
    let Some(authority) = authority(url) else {
        return ProbeOutcome::Inconclusive;
    };
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(&authority)).await {
        Err(_) => ProbeOutcome::TimedOut,
        Ok(Ok(_)) => ProbeOutcome::Connected,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => ProbeOutcome::Refused,
        Ok(Err(e)) => {
            tracing::debug!(%url, error = %e, "broker probe inconclusive");
            ProbeOutcome::Inconclusive
        }
    }
}

/// `host:port` of an `http(s)://host[:port][/...]` URL, with the scheme's
/// default port when none is given.
fn authority(url: &str) -> Option<String> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else {
        return None;
    };
    let host_port = rest.split('/').next().filter(|h| !h.is_empty())?;
    // A port follows the last ':' unless that ':' is inside an IPv6 literal.
    let has_port = host_port.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (!h.starts_with('[') || h.ends_with(']'))
    });
    Some(if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_takes_host_and_port_from_advertised_urls() {
        assert_eq!(
            authority("http://127.0.0.1:9092").as_deref(),
            Some("127.0.0.1:9092")
        );
        assert_eq!(authority("http://b1:9092/").as_deref(), Some("b1:9092"));
        assert_eq!(authority("https://b1").as_deref(), Some("b1:443"));
        assert_eq!(
            authority("http://[::1]:9092").as_deref(),
            Some("[::1]:9092")
        );
        assert_eq!(authority("http://[::1]").as_deref(), Some("[::1]:80"));
        assert_eq!(authority("ftp://b1:21"), None);
        assert_eq!(authority("http://"), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_listening_one_connects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(
            probe(&format!("http://{addr}")).await,
            ProbeOutcome::Connected
        );
        drop(listener);
        assert_eq!(
            probe(&format!("http://{addr}")).await,
            ProbeOutcome::Refused
        );
    }
}
