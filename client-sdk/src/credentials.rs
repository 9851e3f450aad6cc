//! Client credentials: a user and password sent as HTTP Basic on every
//! request when the cluster runs with `security.client_auth = "basic"`.
//! Without TLS the password crosses the network readable by anyone on the path.

use std::fmt;

/// A user and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `Authorization` header value, marked sensitive so that reqwest
    /// keeps it out of its debug output.
    pub(crate) fn header(&self) -> Option<reqwest::header::HeaderValue> {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Basic {token}")).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

impl fmt::Debug for Credentials {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_basic_and_the_password_is_not_debug_printed() {
        let c = Credentials::new("alice", "hunter2");
        assert_eq!(
            c.header().unwrap().to_str().unwrap(),
            "Basic YWxpY2U6aHVudGVyMg=="
        );
        assert!(c.header().unwrap().is_sensitive());
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
