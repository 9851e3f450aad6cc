//! TLS for a node's listener and the trust its internal clients place in the
//! other nodes' certificates, from the `[tls]` section of a service's config.
//!
//! The listener side is a rustls [`ServerConfig`] (ring provider, the one
//! reqwest's rustls already builds) that [`crate::serve::serve_tls`] uses for
//! every accepted connection; ALPN offers `h2` and `http/1.1`. The client side
//! is [`ClientTls`]: the CA certificates from `ca_file`, added to every
//! internal reqwest client, which then also refuses plain `http://` URLs.
//!
//! TLS protects against eavesdropping and tampering on the network path; it
//! does not authenticate clients (no client certificates are asked for).

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The `[tls]` section: PEM files. TLS is on when `cert_file` and `key_file`
/// are set; with it, every URL this node advertises or calls is `https://`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// This node's certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA certificates the node trusts when it calls other nodes; without it
    /// the usual public roots are trusted.
    pub ca_file: Option<PathBuf>,
}

/// What [`TlsSettings::load`] read: the listener's config (when TLS is on)
/// and the trust of the internal clients.
#[derive(Clone, Default)]
pub struct LoadedTls {
    pub server: Option<Arc<ServerConfig>>,
    pub client: ClientTls,
}

impl TlsSettings {
    /// TLS is configured for the listener.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.enabled() {
            "https"
        } else {
            "http"
        }
    }

    /// Checks which keys are set together; `env` is the prefix of the
    /// environment overrides (`FERRY_BROKER__TLS__`), named in the errors.
    pub fn validate(&self, env: &str) -> Result<(), String> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) | (None, Some(_)) => Err(format!(
                "tls.cert_file and tls.key_file must be set together ({env}CERT_FILE, {env}KEY_FILE)"
            )),
            (None, None) if self.ca_file.is_some() => Err(format!(
                "tls.ca_file is set but TLS is off: set tls.cert_file and tls.key_file too ({env}CERT_FILE, {env}KEY_FILE)"
            )),
            _ => Ok(()),
        }
    }

    /// With TLS on, every URL of `urls` is `https://` (internal clients
    /// refuse plain HTTP then); `what` names the setting in the error.
    pub fn check_urls<'a>(
        &self,
        what: &str,
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        match urls.into_iter().find(|u| !u.starts_with("https://")) {
            Some(bad) => Err(format!(
                "{what} '{bad}' must start with https:// (TLS is on)"
            )),
            None => Ok(()),
        }
    }

    /// Reads and parses the PEM files; any missing or unreadable one is an
    /// error naming the file, so the node refuses to start.
    pub fn load(&self) -> Result<LoadedTls, String> {
        self.validate("")?;
        let client = match &self.ca_file {
            Some(ca) => ClientTls::from_ca_file(ca)?,
            None if self.enabled() => ClientTls {
                roots: Arc::new(Vec::new()),
                https_only: true,
            },
            None => ClientTls::default(),
        };
        let server = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some(server_config(cert, key)?),
            _ => None,
        };
        Ok(LoadedTls { server, client })
    }
}

/// The certificates of a PEM file, at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("reading TLS certificates {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("parsing TLS certificates {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("reading TLS key {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!(
            "{} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            path.display()
        ),
        e => format!("parsing TLS key {}: {e}", path.display()),
    })
}

/// The listener's rustls config: `cert` (chain) and `key`, no client
/// certificates, ALPN `h2` then `http/1.1`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = read_certificates(cert)?;
    let key_der = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            format!(
                "TLS certificate {} and key {} do not make a usable pair: {e}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How an internal client reaches TLS peers: the CA certificates it trusts
/// (only those, when any are given) and whether plain `http://` is refused.
/// The default is plain HTTP with reqwest's defaults.
#[derive(Clone, Default)]
pub struct ClientTls {
    roots: Arc<Vec<reqwest::Certificate>>,
    https_only: bool,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("https_only", &self.https_only)
            .finish()
    }
}

impl ClientTls {
    /// Trust only the CA certificates in `path`; refuse plain HTTP.
    pub fn from_ca_file(path: &Path) -> Result<Self, String> {
        let roots = read_certificates(path)?
            .iter()
            .map(|der| {
                reqwest::Certificate::from_der(der)
                    .map_err(|e| format!("CA certificate in {}: {e}", path.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClientTls {
            roots: Arc::new(roots),
            https_only: true,
        })
    }

    /// `builder` with this trust.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let mut builder = builder.https_only(self.https_only);
        if !self.roots.is_empty() {
            builder = builder.tls_built_in_root_certs(false);
            for root in self.roots.iter() {
                builder = builder.add_root_certificate(root.clone());
            }
        }
        builder
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tls_serve_tests.rs"]
mod serve_tests;
