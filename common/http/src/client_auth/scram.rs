//! SCRAM-SHA-256 credentials (RFC 5802, RFC 7677) as Kafka stores them: a
//! random salt, an iteration count, `StoredKey = H(HMAC(SaltedPassword,
//! "Client Key"))` and `ServerKey = HMAC(SaltedPassword, "Server Key")`, where
//! `SaltedPassword = PBKDF2-HMAC-SHA256(password, salt, iterations)`. The
//! password itself is never kept.
//!
//! An HTTP Basic password is verified by deriving its StoredKey again and
//! comparing it with the stored one in constant time.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ferry_common::security::{ScramCredential, ScramMechanism};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Iterations when a request names none (Kafka's default).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Fewest iterations accepted (Kafka's minimum for SCRAM-SHA-256).
pub const MIN_ITERATIONS: u32 = 4096;
/// Most iterations accepted (Kafka's maximum): each verification costs this many HMACs.
pub const MAX_ITERATIONS: u32 = 16384;
/// Bytes of random salt per credential.
pub const SALT_LEN: usize = 32;
/// Longest password accepted, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest user name accepted.
pub const MAX_USER_NAME_LEN: usize = 128;

/// The keys derived from one password, salt and iteration count.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    pub client_key: [u8; 32],
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramKeys(..)")
    }
}

/// Why a credential could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, got {0}")]
    Iterations(u64),
    #[error("the password must be 1 to {MAX_PASSWORD_BYTES} bytes long")]
    PasswordLength,
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error("the stored credential is unreadable: {0}")]
    Corrupt(&'static str),
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// `SaltedPassword := Hi(Normalize(password), salt, i)` (RFC 5802 section 3),
/// which is PBKDF2-HMAC-SHA256 with one 32-byte block. Passwords are used as
/// their UTF-8 bytes, without SASLprep, as Kafka does.
pub fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

/// ClientKey, StoredKey and ServerKey of `password`.
pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
    let salted = salted_password(password, salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    ScramKeys {
        client_key,
        stored_key: Sha256::digest(client_key).into(),
        server_key: hmac(&salted, b"Server Key"),
    }
}

/// Checks a password before it is hashed.
pub fn check_password(password: &str) -> Result<(), CredentialError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(CredentialError::PasswordLength);
    }
    Ok(())
}

/// Checks an iteration count against Kafka's bounds.
pub fn check_iterations(iterations: u64) -> Result<u32, CredentialError> {
    if !(MIN_ITERATIONS as u64..=MAX_ITERATIONS as u64).contains(&iterations) {
        return Err(CredentialError::Iterations(iterations));
    }
    Ok(iterations as u32)
}

/// A new credential for `password` with a fresh random salt.
pub fn new_credential(password: &str, iterations: u64) -> Result<ScramCredential, CredentialError> {
    check_password(password)?;
    let iterations = check_iterations(iterations)?;
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| CredentialError::Random(e.to_string()))?;
    Ok(credential_with_salt(password, &salt, iterations))
}

/// The credential for `password` with a given salt (tests and test vectors).
pub fn credential_with_salt(password: &str, salt: &[u8], iterations: u32) -> ScramCredential {
    let keys = derive(password.as_bytes(), salt, iterations);
    ScramCredential {
        mechanism: ScramMechanism::ScramSha256,
        salt: B64.encode(salt),
        stored_key: B64.encode(keys.stored_key),
        server_key: B64.encode(keys.server_key),
        iterations,
    }
}

/// A stored credential, decoded once.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedCredential {
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub iterations: u32,
}

impl DecodedCredential {
    pub fn new(c: &ScramCredential) -> Result<Self, CredentialError> {
        let salt = B64
            .decode(&c.salt)
            .map_err(|_| CredentialError::Corrupt("salt is not base64"))?;
        let stored_key: [u8; 32] = B64
            .decode(&c.stored_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or(CredentialError::Corrupt(
                "stored_key is not 32 bytes of base64",
            ))?;
        // A credential outside the bounds was not written by this code; a
        // huge count would make every verification a denial of service.
        let iterations = check_iterations(c.iterations as u64)
            .map_err(|_| CredentialError::Corrupt("iterations out of bounds"))?;
        Ok(DecodedCredential {
            salt,
            stored_key,
            iterations,
        })
    }

    /// Whether `password` is the one this credential was made from: its
    /// StoredKey, derived again, equals the stored one (constant-time compare).
    pub fn verify(&self, password: &[u8]) -> bool {
        let keys = derive(password, &self.salt, self.iterations);
        keys.stored_key.ct_eq(&self.stored_key).into()
    }
}

/// Whether `name` is an acceptable user name: 1 to [`MAX_USER_NAME_LEN`]
/// ASCII letters, digits and `. _ - @`. This keeps `:` (the Basic separator),
/// `*` (the ACL wildcard), spaces and control characters out of principals;
/// `ANONYMOUS` is reserved for unauthenticated callers.
pub fn check_user_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_USER_NAME_LEN {
        return Err(format!(
            "a user name must be 1 to {MAX_USER_NAME_LEN} characters long"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
    {
        return Err("a user name may only hold ASCII letters, digits and . _ - @".into());
    }
    if name == ferry_common::security::Principal::ANONYMOUS {
        return Err("ANONYMOUS is reserved for unauthenticated callers".into());
    }
    Ok(())
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
