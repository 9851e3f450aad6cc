//! Request-body rules shared by every service: which content types carry JSON
//! and how a JSON parse failure is explained. Pure functions; the services'
//! extractors map the messages to their own error types.

use serde::de::DeserializeOwned;

/// Whether a request's `Content-Type` can carry a JSON body. Absent, JSON types
/// and curl's `-d` default (`application/x-www-form-urlencoded`) are accepted.
pub fn json_content_type_ok(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.is_empty()
        || essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || essence == "application/x-www-form-urlencoded"
}

/// The message for a refused content type.
pub fn unsupported_content_type(content_type: Option<&str>) -> String {
    format!(
        "Content-Type {:?} cannot carry JSON; send application/json",
        content_type.unwrap_or_default()
    )
}

/// Parses a JSON body; the error says what is wrong and where.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the request body is empty; a JSON object is expected".into());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Data => "invalid field",
            serde_json::error::Category::Io => "unreadable body",
            _ => "malformed JSON",
        };
        format!("{kind}: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for ok in [
            None,
            Some("application/json"),
            Some("application/json; charset=utf-8"),
            Some("application/x-www-form-urlencoded"),
            Some("application/vnd.x+json"),
        ] {
            assert!(json_content_type_ok(ok), "{ok:?}");
        }
        for bad in ["text/plain", "application/xml", "multipart/form-data"] {
            assert!(!json_content_type_ok(Some(bad)), "{bad}");
        }
    }

    #[test]
    fn parse_errors_name_the_problem() {
        assert!(parse_json::<serde_json::Value>(b"  ")
            .unwrap_err()
            .contains("empty"));
        assert!(parse_json::<serde_json::Value>(b"{")
            .unwrap_err()
            .starts_with("malformed JSON"));
        assert!(parse_json::<Vec<u8>>(b"\"x\"")
            .unwrap_err()
            .starts_with("invalid field"));
    }
}
