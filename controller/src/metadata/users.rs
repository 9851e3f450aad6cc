//! Client users in the metadata log: creating, replacing and removing a
//! user's SCRAM credential, decided at apply time against the image.

use super::commands::{Outcome, Rejection};
use ferry_common::metadata::{MetadataImage, MetadataRecord};
use ferry_common::security::ScramCredential;
use ferry_common::ErrorCode;

type Decision = Result<(Vec<MetadataRecord>, Outcome), Rejection>;

/// Creates `user` or replaces its credential.
pub fn upsert(user: &str, credential: &ScramCredential) -> Decision {
    Ok((
        vec![MetadataRecord::UserScramCredential {
            user: user.to_string(),
            credential: credential.clone(),
        }],
        Outcome::Done,
    ))
}

/// Removes `user`; one that does not exist is `RESOURCE_NOT_FOUND`, as
/// Kafka's AlterUserScramCredentials answers a deletion of nothing.
pub fn delete(image: &MetadataImage, user: &str) -> Decision {
    if !image.users.contains_key(user) {
        return Err(Rejection::new(
            ErrorCode::ResourceNotFound,
            format!("user '{user}' does not exist"),
        ));
    }
    Ok((
        vec![MetadataRecord::RemoveUserScramCredential {
            user: user.to_string(),
        }],
        Outcome::Done,
    ))
}

/// Creates the configured bootstrap user while the cluster has no user at
/// all; otherwise nothing (a user set by an operator is never overwritten,
/// and two controllers proposing it race harmlessly).
pub fn bootstrap(image: &MetadataImage, user: &str, credential: &ScramCredential) -> Decision {
    if !image.users.is_empty() {
        return Ok((vec![], Outcome::Done));
    }
    upsert(user, credential)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::security::ScramMechanism;

    fn cred(salt: &str) -> ScramCredential {
        ScramCredential {
            mechanism: ScramMechanism::ScramSha256,
            salt: salt.into(),
            stored_key: "k".into(),
            server_key: "s".into(),
            iterations: 4096,
        }
    }

    fn apply(
        image: &mut MetadataImage,
        offset: u64,
        decide: impl FnOnce(&MetadataImage) -> Decision,
    ) -> Result<(), ErrorCode> {
        let (records, _) = decide(image).map_err(|r| r.code)?;
        image.replay(offset, &records);
        Ok(())
    }

    #[test]
    fn users_are_upserted_and_deleted_and_absent_ones_are_not_found() {
        let mut img = MetadataImage::default();
        apply(&mut img, 1, |_| upsert("alice", &cred("a"))).unwrap();
        apply(&mut img, 2, |_| upsert("alice", &cred("b"))).unwrap();
        assert_eq!(img.users["alice"].salt, "b");
        apply(&mut img, 3, |i| delete(i, "alice")).unwrap();
        assert!(img.users.is_empty());
        assert_eq!(
            apply(&mut img, 4, |i| delete(i, "alice")),
            Err(ErrorCode::ResourceNotFound)
        );
    }

    #[test]
    fn the_bootstrap_user_is_made_only_while_there_is_no_user() {
        let mut img = MetadataImage::default();
        apply(&mut img, 1, |i| bootstrap(i, "admin", &cred("first"))).unwrap();
        // A second controller's proposal (its own salt) changes nothing.
        apply(&mut img, 2, |i| bootstrap(i, "admin", &cred("second"))).unwrap();
        assert_eq!(img.users["admin"].salt, "first");
        apply(&mut img, 3, |_| upsert("alice", &cred("a"))).unwrap();
        apply(&mut img, 4, |i| delete(i, "admin")).unwrap();
        apply(&mut img, 5, |i| bootstrap(i, "admin", &cred("third"))).unwrap();
        assert!(!img.users.contains_key("admin"));
    }
}
