use super::*;

/// RFC 7677 section 3: user "user", password "pencil", this salt, 4096
/// iterations, and the nonces of the example exchange.
const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_FIRST_BARE: &str = "n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL_NO_PROOF: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const CLIENT_PROOF: &str = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_SIGNATURE: &str = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// The keys derived here reproduce the RFC's client proof and server
/// signature: ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage),
/// ServerSignature = HMAC(ServerKey, AuthMessage).
#[test]
fn derivation_matches_the_rfc_7677_test_vector() {
    let salt = B64.decode(SALT_B64).unwrap();
    let keys = derive(b"pencil", &salt, 4096);
    let auth_message = format!("{CLIENT_FIRST_BARE},{SERVER_FIRST},{CLIENT_FINAL_NO_PROOF}");
    let client_signature = hmac(&keys.stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = keys
        .client_key
        .iter()
        .zip(client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    assert_eq!(B64.encode(proof), CLIENT_PROOF);
    let server_signature = hmac(&keys.server_key, auth_message.as_bytes());
    assert_eq!(B64.encode(server_signature), SERVER_SIGNATURE);

    let stored = credential_with_salt("pencil", &salt, 4096);
    assert_eq!(stored.salt, SALT_B64);
    assert_eq!(stored.iterations, 4096);
    let decoded = DecodedCredential::new(&stored).unwrap();
    assert!(decoded.verify(b"pencil"));
    assert!(!decoded.verify(b"pencil "));
    assert!(!decoded.verify(b""));
}

#[test]
fn new_credentials_have_fresh_salts_and_kafkas_bounds() {
    let a = new_credential("secret", DEFAULT_ITERATIONS as u64).unwrap();
    let b = new_credential("secret", DEFAULT_ITERATIONS as u64).unwrap();
    assert_ne!(a.salt, b.salt);
    assert_ne!(a.stored_key, b.stored_key);
    assert_eq!(B64.decode(&a.salt).unwrap().len(), SALT_LEN);
    assert!(DecodedCredential::new(&a).unwrap().verify(b"secret"));
    assert_eq!(
        new_credential("secret", 4095),
        Err(CredentialError::Iterations(4095))
    );
    assert_eq!(
        new_credential("secret", 16385),
        Err(CredentialError::Iterations(16385))
    );
    assert_eq!(
        new_credential("", 4096),
        Err(CredentialError::PasswordLength)
    );
    let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert_eq!(
        new_credential(&long, 4096),
        Err(CredentialError::PasswordLength)
    );
}

#[test]
fn unreadable_or_out_of_bounds_stored_credentials_are_refused() {
    let good = credential_with_salt("pw", b"0123456789abcdef", 4096);
    let mut bad = good.clone();
    bad.stored_key = "AAAA".into();
    assert!(DecodedCredential::new(&bad).is_err());
    let mut bad = good.clone();
    bad.salt = "!!".into();
    assert!(DecodedCredential::new(&bad).is_err());
    let mut bad = good;
    bad.iterations = u32::MAX;
    assert!(DecodedCredential::new(&bad).is_err());
}

#[test]
fn user_names_keep_separators_wildcards_and_controls_out() {
    for ok in ["alice", "svc.orders-1", "a_b@example.com", &"a".repeat(128)] {
        assert_eq!(check_user_name(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "a:b",
        "*",
        "User:*",
        "al ice",
        "a\nb",
        "ünï",
        "a/b",
        "ANONYMOUS",
        &"a".repeat(129),
    ] {
        assert!(check_user_name(bad).is_err(), "{bad:?}");
    }
}
