//! Client users (`/v1/users`): the password is checked and hashed here, on
//! the active controller, into a SCRAM-SHA-256 credential with a fresh salt;
//! only the credential goes through Raft. Nothing here logs a password.

use super::write_path::WritePath;
use crate::error::ControllerError;
use crate::metadata::commands::{ClientRef, Command};
use crate::metadata::state_view::StateView;
use ferry_common::security::ScramCredential;
use ferry_common::users::{UpsertUserRequest, UserDescription, UserList};
use ferry_http::client_auth::scram::{self, CredentialError};
use ferry_http::client_auth::CredentialStore;

/// Validates a user name; a bad one is `INVALID_REQUEST`.
pub fn check_name(name: &str) -> Result<(), ControllerError> {
    scram::check_user_name(name)
        .map_err(|reason| ControllerError::InvalidRequest(format!("user name: {reason}")))
}

/// A fresh credential for `password` (PBKDF2 off the async threads).
pub async fn hash(password: String, iterations: u64) -> Result<ScramCredential, ControllerError> {
    tokio::task::spawn_blocking(move || scram::new_credential(&password, iterations))
        .await
        .map_err(|e| ControllerError::Internal(format!("hashing a password: {e}")))?
        .map_err(|e| match e {
            CredentialError::Random(_) | CredentialError::Corrupt(_) => {
                ControllerError::Internal(e.to_string())
            }
            other => ControllerError::InvalidRequest(other.to_string()),
        })
}

/// Creates `name` or replaces its password; answers the user as stored.
pub async fn upsert(
    path: &WritePath,
    view: &StateView,
    name: &str,
    req: UpsertUserRequest,
    client: Option<ClientRef>,
) -> Result<UserDescription, ControllerError> {
    check_name(name)?;
    let iterations = req.iterations.unwrap_or(scram::DEFAULT_ITERATIONS as u64);
    scram::check_iterations(iterations)
        .and_then(|_| scram::check_password(&req.password))
        .map_err(|e| ControllerError::InvalidRequest(e.to_string()))?;
    // Hash only where the write can be proposed: a follower redirects first.
    path.require_leader()?;
    let credential = hash(req.password, iterations).await?;
    let command = Command::UpsertUser {
        user: name.to_string(),
        credential,
    };
    path.write(client, command).await?;
    describe(view, name).ok_or_else(|| {
        ControllerError::Internal(format!("user '{name}' was written but is not applied"))
    })
}

/// Removes `name`.
pub async fn delete(
    path: &WritePath,
    name: &str,
    client: Option<ClientRef>,
) -> Result<(), ControllerError> {
    check_name(name)?;
    let command = Command::DeleteUser {
        user: name.to_string(),
    };
    path.write(client, command).await.map(|_| ())
}

/// One user as the API shows it.
pub fn describe(view: &StateView, name: &str) -> Option<UserDescription> {
    view.read(|s| s.image.users.get(name).map(|c| description(name, c)))
}

/// Every user, by name.
pub fn list(view: &StateView) -> UserList {
    let users = view.read(|s| {
        s.image
            .users
            .iter()
            .map(|(name, c)| description(name, c))
            .collect()
    });
    UserList { users }
}

fn description(name: &str, c: &ScramCredential) -> UserDescription {
    UserDescription {
        name: name.to_string(),
        mechanism: c.mechanism,
        iterations: c.iterations,
    }
}

/// The controller authenticates clients against its own applied state.
pub struct AppliedUsers(pub std::sync::Arc<StateView>);

impl CredentialStore for AppliedUsers {
    fn credential(&self, user: &str) -> Option<ScramCredential> {
        self.0.read(|s| s.image.users.get(user).cloned())
    }
}
