//! [`AuthorizerCache`]: the authorizer for the image a service currently
//! holds, rebuilt only when the image's ACLs change, so a request pays one
//! lock and a pointer copy.

use crate::{AclIndex, Authorizer, AuthorizerSettings};
use ferry_common::security::AclBinding;
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

/// The current [`Authorizer`], keyed by the ACL set it was built from.
#[derive(Debug)]
pub struct AuthorizerCache {
    settings: AuthorizerSettings,
    current: RwLock<Arc<Built>>,
}

#[derive(Debug)]
struct Built {
    /// The image offset last checked against `acls`.
    offset: u64,
    acls: BTreeSet<AclBinding>,
    authorizer: Arc<Authorizer>,
}

impl AuthorizerCache {
    pub fn new(settings: AuthorizerSettings) -> Self {
        let authorizer = Arc::new(Authorizer::new(&settings, AclIndex::default()));
        AuthorizerCache {
            settings,
            current: RwLock::new(Arc::new(Built {
                offset: 0,
                acls: BTreeSet::new(),
                authorizer,
            })),
        }
    }

    pub fn settings(&self) -> &AuthorizerSettings {
        &self.settings
    }

    /// The authorizer for `acls`, the set of the image at `offset`: the
    /// cached one while the offset is unchanged (one log position has one
    /// set) or the set is equal. Call it while holding the image's read lock
    /// so the set cannot move underneath. With the authorizer off the set is
    /// never looked at.
    pub fn current(&self, offset: u64, acls: &BTreeSet<AclBinding>) -> Arc<Authorizer> {
        let built = match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if !built.authorizer.enabled() || built.offset == offset {
            return built.authorizer.clone();
        }
        let authorizer = if built.acls == *acls {
            built.authorizer.clone()
        } else {
            Arc::new(Authorizer::new(&self.settings, AclIndex::new(acls)))
        };
        let next = Arc::new(Built {
            offset,
            acls: acls.clone(),
            authorizer: authorizer.clone(),
        });
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        authorizer
    }
}
