//! `ferry-local up --tls`: a throwaway CA and one certificate per node
//! (SANs 127.0.0.1 and localhost) in `DIR/tls/`, made on first start and
//! kept after; a node added later gets its certificate from the same CA.
//! Private keys are written mode 0600. For trying TLS locally only: the CA's
//! key sits next to the certificates it signed.

use crate::layout::ClusterLayout;
use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The folder under the cluster dir that holds the CA and node certificates.
pub const TLS_DIR: &str = "tls";

/// Where one node's PEM files are.
pub struct NodePem {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `DIR/tls/ca.pem`: what clients trust (`ferry --ca-file`, `curl --cacert`).
pub fn ca_file(dir: &Path) -> PathBuf {
    dir.join(TLS_DIR).join("ca.pem")
}

/// The PEM files of node `name`.
pub fn node_pem(dir: &Path, name: &str) -> NodePem {
    let tls = dir.join(TLS_DIR);
    NodePem {
        cert: tls.join(format!("{name}.pem")),
        key: tls.join(format!("{name}-key.pem")),
    }
}

/// The CA's parameters; issuing needs only its name and key, so the same
/// parameters with the stored key sign certificates for nodes added later.
fn ca_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "ferry-local throwaway CA");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// Makes the CA unless there is one, and a certificate for every node of
/// `layout` that has none.
pub fn ensure(layout: &ClusterLayout) -> Result<()> {
    let dir = layout.dir.join(TLS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_key_path = dir.join("ca-key.pem");
    let ca_path = ca_file(&layout.dir);
    let ca_key = if ca_key_path.exists() && ca_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("reading {}", ca_key_path.display()))?;
        KeyPair::from_pem(&pem).with_context(|| format!("parsing {}", ca_key_path.display()))?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write_private(&ca_key_path, &key.serialize_pem())?;
        write_public(&ca_path, &cert.pem())?;
        key
    };
    let ca = ca_params()?.self_signed(&ca_key)?;
    for node in &layout.nodes {
        let pem = node_pem(&layout.dir, &node.name);
        if pem.cert.exists() && pem.key.exists() {
            continue;
        }
        let mut p = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])?;
        p.distinguished_name
            .push(DnType::CommonName, node.name.as_str());
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &ca, &ca_key)?;
        write_private(&pem.key, &key.serialize_pem())?;
        write_public(&pem.cert, &cert.pem())?;
    }
    Ok(())
}

fn write_public(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Written to a temporary name with mode 0600 from the start, then renamed.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// A client for the cluster's own probes: trusts `DIR/tls/ca.pem` when the
/// cluster runs TLS.
pub fn probe_client(layout: &ClusterLayout) -> reqwest::Client {
    let mut b = reqwest::Client::builder();
    if layout.tls {
        if let Ok(pem) = std::fs::read(ca_file(&layout.dir)) {
            if let Ok(cert) = reqwest::Certificate::from_pem(&pem) {
                b = b.add_root_certificate(cert);
            }
        }
    }
    b.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{DataRoots, NodeKind, NodeSpec};
    use std::os::unix::fs::PermissionsExt as _;

    fn node(name: &str, id: u64) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            kind: NodeKind::Broker,
            id,
            port: 0,
            tls: true,
        }
    }

    /// A node added after the first start gets a certificate from the same
    /// CA: a client trusting the original `ca.pem` completes a handshake.
    #[tokio::test]
    async fn later_nodes_are_signed_by_the_first_ca_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = ClusterLayout {
            dir: dir.path().to_path_buf(),
            bin_dir: PathBuf::new(),
            base_port: 0,
            nodes: vec![node("broker-1", 1)],
            controller_settings: Vec::new(),
            broker_settings: Vec::new(),
            data_roots: DataRoots::default(),
            tls: true,
        };
        ensure(&layout).unwrap();
        let ca_before = std::fs::read(ca_file(dir.path())).unwrap();
        layout.nodes.push(node("broker-2", 2));
        ensure(&layout).unwrap();
        assert_eq!(std::fs::read(ca_file(dir.path())).unwrap(), ca_before);
        let pem = node_pem(dir.path(), "broker-2");
        for key in [&pem.key, &dir.path().join(TLS_DIR).join("ca-key.pem")] {
            let mode = std::fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key.display());
        }

        let config = ferry_http::tls::server_config(&pem.cert, &pem.key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(ferry_http::serve_tls(
            listener,
            app,
            ferry_http::ServerLimits::default(),
            Some(config),
            std::future::pending(),
        ));
        let client = reqwest::Client::builder()
            // `localhost` names the listener whatever the resolver says.
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .add_root_certificate(reqwest::Certificate::from_pem(&ca_before).unwrap())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap();
        for host in ["127.0.0.1", "localhost"] {
            let res = client
                .get(format!("https://{host}:{port}/"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.text().await.unwrap(), "ok");
        }
    }
}
