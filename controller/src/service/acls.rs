//! ACL administration (Kafka's CreateAcls, DescribeAcls, DeleteAcls): bad
//! bindings and filters are refused here with a precise reason before
//! anything is proposed; the state machine validates again at apply time.

use super::write_path::WritePath;
use crate::error::ControllerError;
use crate::metadata::commands::{ClientRef, Command, Outcome};
use crate::metadata::state_view::StateView;
use ferry_common::acls::{AclBindingFilter, AclList, AclsCreated, AclsDeleted};
use ferry_common::security::AclBinding;
use std::sync::Arc;

/// Most bindings one create carries.
pub const MAX_CREATE: usize = 1000;
/// Most filters one delete carries.
pub const MAX_FILTERS: usize = 100;

pub struct AclAdmin {
    path: Arc<WritePath>,
    view: Arc<StateView>,
}

impl AclAdmin {
    pub fn new(path: Arc<WritePath>, view: Arc<StateView>) -> Self {
        AclAdmin { path, view }
    }

    /// Adds `acls`; answers them with the metadata offset they are in force at.
    pub async fn create(
        &self,
        acls: Vec<AclBinding>,
        client: Option<ClientRef>,
    ) -> Result<AclsCreated, ControllerError> {
        if acls.is_empty() || acls.len() > MAX_CREATE {
            return Err(ControllerError::InvalidRequest(format!(
                "acls must hold 1 to {MAX_CREATE} bindings, got {}",
                acls.len()
            )));
        }
        for (i, b) in acls.iter().enumerate() {
            ferry_authz::validate::binding(b).map_err(|reason| {
                ControllerError::InvalidRequest(format!("acls[{i}]: {reason}"))
            })?;
        }
        let command = Command::CreateAcls { acls: acls.clone() };
        let (_, metadata_offset) = self.path.write_with_offset(client, command).await?;
        Ok(AclsCreated {
            acls,
            metadata_offset,
        })
    }

    /// The bindings `filter` selects, as applied on this controller.
    pub fn list(&self, filter: &AclBindingFilter) -> Result<AclList, ControllerError> {
        check_filter(filter)?;
        let acls = self.view.read(|s| {
            s.image
                .acls
                .iter()
                .filter(|b| filter.matches(b))
                .cloned()
                .collect()
        });
        Ok(AclList { acls })
    }

    /// Removes every binding any filter selects; answers what went.
    pub async fn delete(
        &self,
        filters: Vec<AclBindingFilter>,
        client: Option<ClientRef>,
    ) -> Result<AclsDeleted, ControllerError> {
        if filters.is_empty() || filters.len() > MAX_FILTERS {
            return Err(ControllerError::InvalidRequest(format!(
                "filters must hold 1 to {MAX_FILTERS} filters, got {}",
                filters.len()
            )));
        }
        filters.iter().try_for_each(check_filter)?;
        let (outcome, metadata_offset) = self
            .path
            .write_with_offset(client, Command::DeleteAcls { filters })
            .await?;
        match outcome {
            Outcome::AclsDeleted { acls } => Ok(AclsDeleted {
                deleted: acls,
                metadata_offset,
            }),
            other => Err(ControllerError::Internal(format!(
                "ACL deletion answered {other:?}"
            ))),
        }
    }
}

/// A filter's strings are compared, never parsed; only their size is bounded.
fn check_filter(f: &AclBindingFilter) -> Result<(), ControllerError> {
    let long = [&f.resource_name, &f.principal, &f.host]
        .into_iter()
        .flatten()
        .any(|s| s.len() > ferry_authz::validate::MAX_RESOURCE_NAME);
    if long {
        return Err(ControllerError::InvalidRequest(format!(
            "filter fields must be at most {} bytes",
            ferry_authz::validate::MAX_RESOURCE_NAME
        )));
    }
    if f.resource_name.as_deref() == Some("") {
        return Err(ControllerError::InvalidRequest(
            "resource_name must not be empty; leave it out to match every name".into(),
        ));
    }
    Ok(())
}
