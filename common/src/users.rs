//! Client users: the bodies of the controller's `/v1/users` API. A user's
//! password goes in once, is hashed by the controller into a
//! [`ScramCredential`](crate::security::ScramCredential), and never comes back
//! out: answers carry the name, mechanism and iteration count only.

use crate::security::ScramMechanism;
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// `PUT /v1/users/{name}`: creates the user or replaces its password.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertUserRequest {
    /// 1 to 1024 bytes; hashed by the controller (SCRAM-SHA-256), never stored.
    pub password: String,
    /// PBKDF2 iterations, 4096 (the default) to 16384.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
}

impl fmt::Debug for UpsertUserRequest {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpsertUserRequest")
            .field("password", &"<redacted>")
            .field("iterations", &self.iterations)
            .finish()
    }
}

/// A user as the API shows it: never its keys or salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserDescription {
    pub name: String,
    pub mechanism: ScramMechanism,
    pub iterations: u32,
}

/// `GET /v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserDescription>,
}

/// `DELETE /v1/users/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserDeleted {
    pub name: String,
    pub deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_debug_printed() {
        let req: UpsertUserRequest =
            serde_json::from_str(r#"{"password":"hunter2","iterations":8192}"#).unwrap();
        let shown = format!("{req:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            serde_json::from_str::<UpsertUserRequest>(r#"{"password":"x","admin":true}"#).is_err()
        );
    }
}
