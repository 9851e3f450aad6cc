//! The metadata this broker follows: the image pushed by the active
//! controller, and the reconcile that turns it into local replicas.
//!
//! Create-topic path (broker half), in call order: `api/internal.rs` (push)
//! -> [`cache`] (`apply_push`) -> [`reconcile`] (woken by the cache) ->
//! `replicas/manager.rs` (`reconcile`: opens the new partition logs) ->
//! `replication/fetcher.rs` (`sync`, through the reconcile's hook: followers
//! start fetching).
//!
//! - [`cache`]: the image plus a change notification; "unknown topic" answers.
//! - [`PushedUsers`]: the image's client credentials, for client authentication.
//! - [`reconcile`]: the loop creating and deleting local replicas on change.

pub mod cache;
pub mod reconcile;

pub use cache::{topic_name, MetadataCache};

use ferry_common::security::ScramCredential;
use std::sync::Arc;

/// Client credentials as this broker last heard them from the controller: a
/// deleted user is refused from the push that deletes it on.
pub struct PushedUsers(pub Arc<MetadataCache>);

impl ferry_http::client_auth::CredentialStore for PushedUsers {
    fn credential(&self, user: &str) -> Option<ScramCredential> {
        self.0.read(|i| i.users.get(user).cloned())
    }
}
