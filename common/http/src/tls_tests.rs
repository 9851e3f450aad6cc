//! PEM loading errors name the file and say what is wrong; a good pair loads.

use super::*;

struct Pem {
    dir: tempfile::TempDir,
}

impl Pem {
    fn new() -> Self {
        Pem {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, body: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    /// A self-signed certificate for 127.0.0.1 and its key.
    fn pair(&self) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (
            self.write("cert.pem", &cert.pem()),
            self.write("key.pem", &key.serialize_pem()),
        )
    }
}

fn settings(cert: &Path, key: &Path, ca: Option<&Path>) -> TlsSettings {
    TlsSettings {
        cert_file: Some(cert.into()),
        key_file: Some(key.into()),
        ca_file: ca.map(Into::into),
    }
}

fn load_err(s: &TlsSettings) -> String {
    match s.load() {
        Ok(_) => panic!("{s:?} loaded"),
        Err(e) => e,
    }
}

#[test]
fn a_good_pair_loads_with_alpn_and_trust() {
    let pem = Pem::new();
    let (cert, key) = pem.pair();
    let loaded = settings(&cert, &key, Some(&cert)).load().unwrap();
    let server = loaded.server.unwrap();
    assert_eq!(
        server.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    assert_eq!(loaded.client.roots.len(), 1);
    assert!(loaded.client.https_only);
    let off = TlsSettings::default().load().unwrap();
    assert!(off.server.is_none() && !off.client.https_only);
}

#[test]
fn missing_files_are_named() {
    let pem = Pem::new();
    let (cert, key) = pem.pair();
    let gone = pem.dir.path().join("nope.pem");
    let e = load_err(&settings(&gone, &key, None));
    assert!(
        e.contains("reading TLS certificates") && e.contains("nope.pem"),
        "{e}"
    );
    let e = load_err(&settings(&cert, &gone, None));
    assert!(
        e.contains("reading TLS key") && e.contains("nope.pem"),
        "{e}"
    );
    let e = load_err(&settings(&cert, &key, Some(&gone)));
    assert!(e.contains("nope.pem"), "{e}");
}

#[test]
fn garbage_pem_is_refused_clearly() {
    let pem = Pem::new();
    let (cert, key) = pem.pair();
    let junk = pem.write("junk.pem", "this is not a certificate\n");
    let e = load_err(&settings(&junk, &key, None));
    assert!(e.contains("holds no PEM certificate"), "{e}");
    let e = load_err(&settings(&cert, &junk, None));
    assert!(e.contains("holds no PEM private key"), "{e}");
    let broken = pem.write(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let e = load_err(&settings(&broken, &key, None));
    assert!(e.contains("parsing TLS certificates"), "{e}");
    // A key that does not belong to the certificate.
    let other = rcgen::KeyPair::generate().unwrap();
    let wrong = pem.write("other.pem", &other.serialize_pem());
    let e = load_err(&settings(&cert, &wrong, None));
    assert!(e.contains("do not make a usable pair"), "{e}");
}

#[test]
fn keys_must_come_together_and_urls_match_the_scheme() {
    let half = TlsSettings {
        cert_file: Some("c.pem".into()),
        ..Default::default()
    };
    let e = half.validate("FERRY_BROKER__TLS__").unwrap_err();
    assert!(e.contains("FERRY_BROKER__TLS__KEY_FILE"), "{e}");
    let ca_only = TlsSettings {
        ca_file: Some("ca.pem".into()),
        ..Default::default()
    };
    assert!(ca_only.validate("").unwrap_err().contains("TLS is off"));
    let on = settings(Path::new("c"), Path::new("k"), None);
    assert!(on.validate("").is_ok());
    assert!(on.check_urls("voter url", ["https://a:1"]).is_ok());
    let e = on
        .check_urls("voter url", ["https://a:1", "http://b:2"])
        .unwrap_err();
    assert!(e.contains("'http://b:2' must start with https://"), "{e}");
    assert!(TlsSettings::default()
        .check_urls("x", ["http://a:1"])
        .is_ok());
}
