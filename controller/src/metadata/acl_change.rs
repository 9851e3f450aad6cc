//! ACL bindings in, metadata records out: creation (validated again at apply
//! time, against a bound on how many the cluster holds) and deletion by filter.

use super::commands::Rejection;
use ferry_common::acls::AclBindingFilter;
use ferry_common::metadata::{MetadataImage, MetadataRecord};
use ferry_common::security::AclBinding;
use ferry_common::ErrorCode;
use std::collections::BTreeSet;

/// Most ACLs a cluster holds: every broker keeps them all in memory and in
/// every snapshot it fetches.
pub const MAX_ACLS: usize = 100_000;

/// Records adding the bindings of `acls` the image does not hold yet.
pub fn create(
    image: &MetadataImage,
    acls: &[AclBinding],
) -> Result<Vec<MetadataRecord>, Rejection> {
    for b in acls {
        ferry_authz::validate::binding(b)
            .map_err(|reason| Rejection::new(ErrorCode::InvalidRequest, reason))?;
    }
    let new: BTreeSet<&AclBinding> = acls.iter().filter(|b| !image.acls.contains(b)).collect();
    if image.acls.len() + new.len() > MAX_ACLS {
        return Err(Rejection::new(
            ErrorCode::PolicyViolation,
            format!(
                "the cluster holds {} ACLs; {} more would exceed the bound of {MAX_ACLS}",
                image.acls.len(),
                new.len()
            ),
        ));
    }
    Ok(new
        .into_iter()
        .map(|b| MetadataRecord::Acl { binding: b.clone() })
        .collect())
}

/// Records removing every binding any of `filters` selects, and those bindings.
pub fn delete(
    image: &MetadataImage,
    filters: &[AclBindingFilter],
) -> (Vec<MetadataRecord>, Vec<AclBinding>) {
    let gone: Vec<AclBinding> = image
        .acls
        .iter()
        .filter(|b| filters.iter().any(|f| f.matches(b)))
        .cloned()
        .collect();
    let records = gone
        .iter()
        .map(|b| MetadataRecord::RemoveAcl { binding: b.clone() })
        .collect();
    (records, gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::security::{AclOperation, AclPermission, PatternType, ResourceType};

    fn b(name: &str, who: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: PatternType::Literal,
            principal: who.into(),
            host: "*".into(),
            operation: AclOperation::Write,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn create_adds_only_new_valid_bindings_and_delete_answers_what_it_removed() {
        let mut image = MetadataImage::default();
        let recs = create(&image, &[b("t", "User:alice"), b("t", "User:alice")]).unwrap();
        assert_eq!(recs.len(), 1);
        image.replay(1, &recs);
        assert!(create(&image, &[b("t", "User:alice")]).unwrap().is_empty());
        let bad = create(&image, &[b("t", "alice")]).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidRequest);
        image.replay(2, &create(&image, &[b("u", "User:bob")]).unwrap());
        let by_alice = AclBindingFilter {
            principal: Some("User:alice".into()),
            ..Default::default()
        };
        let (recs, gone) = delete(&image, &[by_alice]);
        assert_eq!(gone, vec![b("t", "User:alice")]);
        image.replay(3, &recs);
        assert_eq!(image.acls.len(), 1);
        let (_, none) = delete(
            &image,
            &[AclBindingFilter {
                resource_name: Some("nope".into()),
                ..Default::default()
            }],
        );
        assert!(none.is_empty());
    }
}
