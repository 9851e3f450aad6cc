//! The memory of successful password checks, so that a steady client costs
//! one PBKDF2 derivation, not one per request.
//!
//! An entry is keyed by an HMAC, under a random per-process key, of the user,
//! the presented password and the credential's salt and StoredKey. A changed
//! password (new salt and keys) or a deleted user therefore never matches an
//! old entry: the credential is looked up in the metadata image first on
//! every request. Failures are not remembered. The cache holds at most
//! `capacity` entries and forgets the oldest first.

use super::scram::DecodedCredential;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

type Key = [u8; 32];

/// Successful verifications, bounded.
pub struct VerifyCache {
    key: [u8; 32],
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    set: HashSet<Key>,
    order: VecDeque<Key>,
}

impl VerifyCache {
    /// Entries a cache holds unless told otherwise.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// An empty cache with a fresh random key.
    pub fn new(capacity: usize) -> Self {
        // Two v4 UUIDs: 244 bits from the OS generator, only in this process.
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        VerifyCache {
            key,
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }

    fn entry_key(&self, user: &str, password: &[u8], cred: &DecodedCredential) -> Key {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts every key length"),
        };
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        for part in [user.as_bytes(), password, &cred.salt, &cred.stored_key] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&cred.iterations.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether this exact user, password and credential verified before.
    pub fn contains(&self, user: &str, password: &[u8], cred: &DecodedCredential) -> bool {
        let k = self.entry_key(user, password, cred);
        self.lock().set.contains(&k)
    }

    /// Remembers a successful verification.
    pub fn insert(&self, user: &str, password: &[u8], cred: &DecodedCredential) {
        let k = self.entry_key(user, password, cred);
        let mut e = self.lock();
        if !e.set.insert(k) {
            return;
        }
        e.order.push_back(k);
        while e.order.len() > self.capacity {
            if let Some(old) = e.order.pop_front() {
                e.set.remove(&old);
            }
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.lock().set.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::super::scram::credential_with_salt;
    use super::*;

    fn cred(password: &str, salt: &[u8]) -> DecodedCredential {
        DecodedCredential::new(&credential_with_salt(password, salt, 4096)).unwrap()
    }

    #[test]
    fn a_hit_needs_the_same_user_password_and_credential() {
        let cache = VerifyCache::new(10);
        let c = cred("pw", b"salt-one-16bytes");
        cache.insert("alice", b"pw", &c);
        assert!(cache.contains("alice", b"pw", &c));
        assert!(!cache.contains("alice", b"pw2", &c));
        assert!(!cache.contains("bob", b"pw", &c));
        // The same password set again gets a new salt: the old entry is dead.
        let changed = cred("pw", b"salt-two-16bytes");
        assert!(!cache.contains("alice", b"pw", &changed));
        // Length prefixes: moving a byte between user and password misses.
        cache.insert("ab", b"c", &c);
        assert!(!cache.contains("a", b"bc", &c));
    }

    #[test]
    fn the_cache_is_bounded_and_forgets_the_oldest_first() {
        let cache = VerifyCache::new(3);
        let c = cred("pw", b"salt-one-16bytes");
        for u in ["a", "b", "c", "d"] {
            cache.insert(u, b"pw", &c);
        }
        assert_eq!(cache.len(), 3);
        assert!(!cache.contains("a", b"pw", &c));
        assert!(cache.contains("d", b"pw", &c));
        cache.insert("d", b"pw", &c);
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn two_caches_key_entries_differently() {
        let c = cred("pw", b"salt-one-16bytes");
        let (a, b) = (VerifyCache::new(1), VerifyCache::new(1));
        assert_ne!(
            a.entry_key("alice", b"pw", &c),
            b.entry_key("alice", b"pw", &c)
        );
    }
}
