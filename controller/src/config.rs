//! Controller configuration: defaults -> optional TOML file -> `FERRY_CONTROLLER__*` env.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything a controller process needs to know at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    /// This controller's id; must appear in `voters`.
    pub node_id: u64,
    /// Address to listen on.
    pub listen_addr: String,
    /// The static quorum, Kafka's `controller.quorum.voters` style:
    /// `1@http://127.0.0.1:7101,2@http://127.0.0.1:7102,...`.
    pub voters: String,
    /// Where sled and snapshot files live.
    pub data_dir: PathBuf,
    /// A broker that misses heartbeats for this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// A metadata write not committed and applied by then answers `REQUEST_TIMED_OUT`.
    pub write_timeout_ms: u64,
    /// Largest accepted client request body.
    pub max_request_bytes: usize,
    /// Recent metadata deltas kept in memory for pushing to brokers; a broker
    /// further behind resyncs from a snapshot.
    pub delta_ring_entries: usize,
    /// Move leadership back to preferred replicas once they are in sync.
    pub auto_leader_rebalance_enable: bool,
    /// How often the active controller checks for that.
    pub leader_rebalance_interval_ms: u64,
    /// Topic creation and partition growth that would put more replicas than
    /// this on one broker are refused with `POLICY_VIOLATION`: every replica
    /// holds descriptors on its broker (three per open segment set today), and
    /// a broker out of descriptors stops answering at all.
    pub max_replicas_per_broker: u32,
    /// Connection, header, body and concurrency bounds of the listener.
    pub server: ferry_http::ServerSettings,
    /// File holding the secret every member of this cluster shares (at least
    /// 32 bytes); internal calls are signed with it. Required.
    pub cluster_secret_file: Option<PathBuf>,
    pub raft: RaftSettings,
    /// TLS for the listener and trust for calls to other nodes; with it,
    /// `voters` and every broker URL are `https://`.
    pub tls: ferry_http::tls::TlsSettings,
    /// Client authentication (`[security]`).
    pub security: SecuritySettings,
}

/// Raft timing and log-compaction knobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftSettings {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (and purge the log) after this many entries.
    pub snapshot_every_entries: u64,
    /// Entries kept in the log behind the snapshot for lagging followers.
    pub log_entries_kept_after_snapshot: u64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            node_id: 1,
            listen_addr: "127.0.0.1:7101".into(),
            voters: "1@http://127.0.0.1:7101".into(),
            data_dir: PathBuf::from("data/controller"),
            broker_session_timeout_ms: 9_000,
            write_timeout_ms: 5_000,
            max_request_bytes: 1024 * 1024,
            delta_ring_entries: 4096,
            auto_leader_rebalance_enable: true,
            leader_rebalance_interval_ms: 10_000,
            max_replicas_per_broker: 4_000,
            server: ferry_http::ServerSettings::default(),
            cluster_secret_file: None,
            raft: RaftSettings::default(),
            tls: ferry_http::tls::TlsSettings::default(),
            security: SecuritySettings::default(),
        }
    }
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            // openraft 0.9 followers wait the leader lease (= the max) plus
            // their own timeout before campaigning: 600-800 ms here, 12 to
            // 16 missed heartbeats, so a loaded leader is not deposed.
            heartbeat_interval_ms: 50,
            election_timeout_min_ms: 200,
            election_timeout_max_ms: 400,
            snapshot_every_entries: 5_000,
            log_entries_kept_after_snapshot: 1_000,
        }
    }
}

/// A quorum member from `voters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: u64,
    pub url: String,
}

impl SecuritySettings {
    /// The authorizer's settings (checked by `validate`).
    pub fn authorizer(&self) -> ferry_authz::AuthorizerSettings {
        ferry_authz::AuthorizerSettings {
            kind: self.authorizer,
            super_users: self.super_users.clone(),
            allow_everyone_if_no_acl_found: self.allow_everyone_if_no_acl_found,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid controller config: {0}")]
pub struct ConfigInvalid(pub String);

impl ControllerConfig {
    /// Reads the cluster secret from `cluster_secret_file`, which must be set.
    pub fn cluster_key(&self) -> Result<ferry_http::auth::ClusterKey, ConfigInvalid> {
        ferry_http::auth::ClusterKey::from_setting(
            self.cluster_secret_file.as_deref(),
            "FERRY_CONTROLLER__CLUSTER_SECRET_FILE",
        )
        .map_err(ConfigInvalid)
    }

    /// Parses `voters` and checks cross-field rules.
    pub fn validate(&self) -> Result<Vec<Voter>, ConfigInvalid> {
        self.security
            .authorizer()
            .validate()
            .map_err(ConfigInvalid)?;
        let voters = parse_voters(&self.voters)?;
        if !matches!(voters.len(), 1 | 3 | 5 | 7) {
            return Err(ConfigInvalid(format!(
                "voters lists {} controllers; use 1, 3, 5 or 7",
                voters.len()
            )));
        }
        if !voters.iter().any(|v| v.id == self.node_id) {
            return Err(ConfigInvalid(format!(
                "node_id {} is not in voters '{}'",
                self.node_id, self.voters
            )));
        }
        let r = &self.raft;
        if r.heartbeat_interval_ms == 0 || r.election_timeout_min_ms <= r.heartbeat_interval_ms {
            return Err(ConfigInvalid(
                "raft.election_timeout_min_ms must exceed raft.heartbeat_interval_ms > 0".into(),
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(ConfigInvalid(
                "raft.election_timeout_max_ms must exceed raft.election_timeout_min_ms".into(),
            ));
        }
        if self.broker_session_timeout_ms < 100 || self.write_timeout_ms < 100 {
            return Err(ConfigInvalid(
                "broker_session_timeout_ms and write_timeout_ms must be at least 100".into(),
            ));
        }
        if self.delta_ring_entries == 0 || self.max_request_bytes < 1024 {
            return Err(ConfigInvalid(
                "delta_ring_entries must be > 0 and max_request_bytes >= 1024".into(),
            ));
        }
        self.server.validate().map_err(ConfigInvalid)?;
        if self.max_replicas_per_broker == 0 {
            return Err(ConfigInvalid(
                "max_replicas_per_broker must be at least 1".into(),
            ));
        }
        if r.snapshot_every_entries == 0 {
            return Err(ConfigInvalid(
                "raft.snapshot_every_entries must be > 0".into(),
            ));
        }
        self.tls
            .validate("FERRY_CONTROLLER__TLS__")
            .and_then(|()| {
                self.tls
                    .check_urls("voter url", voters.iter().map(|v| v.url.as_str()))
            })
            .map_err(ConfigInvalid)?;
        Ok(voters)
    }

    /// Reads the `[tls]` PEM files (the node refuses to start on any error).
    pub fn load_tls(&self) -> Result<ferry_http::tls::LoadedTls, ConfigInvalid> {
        self.tls.load().map_err(ConfigInvalid)
    }

    /// This node's advertised URL, from `voters`.
    pub fn self_url(&self) -> Option<String> {
        parse_voters(&self.voters)
            .ok()?
            .into_iter()
            .find(|v| v.id == self.node_id)
            .map(|v| v.url)
    }
}

/// `[security]`: how clients authenticate, the first user, and what
/// clients may do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// `"none"` (default: every client is `User:ANONYMOUS`) or `"basic"`
    /// (HTTP Basic against the users in the metadata log).
    pub client_auth: ferry_http::client_auth::ClientAuthMode,
    /// How long a wrong password or malformed credentials wait before their
    /// 401, in ms (default 100, Kafka's
    /// `connection.failed.authentication.delay.ms`; 0 answers at once).
    pub failed_authentication_delay_ms: ferry_http::client_auth::FailedAuthDelayMs,
    /// `none` (default: every client may do everything, logged at start-up)
    /// or `acl` (the ACLs in the metadata log decide).
    pub authorizer: ferry_authz::AuthorizerKind,
    /// Principals allowed everything whatever the ACLs say (`["User:admin"]`).
    pub super_users: Vec<String>,
    /// Kafka's `allow.everyone.if.no.acl.found`: a resource that no ACL names
    /// is open to every client (true) or to super users only (false, default).
    pub allow_everyone_if_no_acl_found: bool,
    /// A user the active controller creates while the cluster has no user at
    /// all, so that an operator can log in and create the others (Kafka's
    /// `kafka-storage format --add-scram`). Needs `bootstrap_password_file`.
    pub bootstrap_user: Option<String>,
    /// File holding the bootstrap user's password (one line; a trailing
    /// newline is not part of it). Read and hashed at start; keep it 0600.
    pub bootstrap_password_file: Option<PathBuf>,
}

impl SecuritySettings {
    /// The bootstrap user's name and a fresh credential for its password,
    /// if one is configured.
    pub fn bootstrap_credential(
        &self,
    ) -> Result<Option<(String, ferry_common::security::ScramCredential)>, ConfigInvalid> {
        use ferry_http::client_auth::scram;
        let (user, file) = match (&self.bootstrap_user, &self.bootstrap_password_file) {
            (None, None) => return Ok(None),
            (Some(u), Some(f)) => (u, f),
            _ => {
                return Err(ConfigInvalid(
                    "security.bootstrap_user and security.bootstrap_password_file go together"
                        .into(),
                ))
            }
        };
        scram::check_user_name(user)
            .map_err(|e| ConfigInvalid(format!("security.bootstrap_user: {e}")))?;
        let text = std::fs::read_to_string(file).map_err(|e| {
            ConfigInvalid(format!(
                "reading security.bootstrap_password_file {}: {e}",
                file.display()
            ))
        })?;
        let password = text.trim_end_matches(['\n', '\r']);
        let credential = scram::new_credential(password, scram::DEFAULT_ITERATIONS as u64)
            .map_err(|e| ConfigInvalid(format!("{}: {e}", file.display())))?;
        Ok(Some((user.clone(), credential)))
    }
}

fn parse_voters(s: &str) -> Result<Vec<Voter>, ConfigInvalid> {
    let mut out: Vec<Voter> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, url) = part
            .split_once('@')
            .ok_or_else(|| ConfigInvalid(format!("voter '{part}' is not ID@URL")))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| ConfigInvalid(format!("voter id '{id}' is not a number")))?;
        let url = url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigInvalid(format!(
                "voter url '{url}' must start with http://"
            )));
        }
        if out.iter().any(|v| v.id == id) {
            return Err(ConfigInvalid(format!("voter id {id} listed twice")));
        }
        out.push(Voter { id, url });
    }
    if out.is_empty() {
        return Err(ConfigInvalid("voters is empty".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_secret_file_is_required_and_must_hold_a_real_secret() {
        let mut c = ControllerConfig::default();
        let e = c.cluster_key().unwrap_err().0;
        assert!(e.contains("cluster_secret_file is required"), "{e}");
        assert!(e.contains("FERRY_CONTROLLER__CLUSTER_SECRET_FILE"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        c.cluster_secret_file = Some(path.clone());
        assert!(c
            .cluster_key()
            .unwrap_err()
            .0
            .contains("reading the cluster secret"));
        std::fs::write(&path, "too short\n").unwrap();
        assert!(c.cluster_key().unwrap_err().0.contains("at least 32"));
        std::fs::write(&path, ferry_http::auth::random_secret()).unwrap();
        assert!(c.cluster_key().is_ok());
    }

    #[test]
    fn tls_needs_https_voters_and_readable_pem() {
        let mut c = ControllerConfig {
            tls: ferry_http::tls::TlsSettings {
                cert_file: Some("/nonexistent/cert.pem".into()),
                key_file: None,
                ca_file: None,
            },
            ..Default::default()
        };
        let e = c.validate().unwrap_err().0;
        assert!(e.contains("FERRY_CONTROLLER__TLS__KEY_FILE"), "{e}");
        c.tls.key_file = Some("/nonexistent/key.pem".into());
        let e = c.validate().unwrap_err().0;
        assert!(
            e.contains("'http://127.0.0.1:7101' must start with https://"),
            "{e}"
        );
        c.voters = "1@https://127.0.0.1:7101".into();
        assert!(c.validate().is_ok());
        let e = c.load_tls().err().unwrap().0;
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }

    #[test]
    fn tls_section_parses_and_refuses_typos() {
        let parsed: ControllerConfig = serde_json::from_value(serde_json::json!({
            "tls": { "cert_file": "c.pem", "key_file": "k.pem", "ca_file": "ca.pem" }
        }))
        .unwrap();
        assert!(parsed.tls.enabled());
        let typo = serde_json::from_value::<ControllerConfig>(
            serde_json::json!({ "tls": { "cert": "c.pem" } }),
        );
        assert!(typo.is_err());
    }

    #[test]
    fn the_bootstrap_user_needs_both_keys_and_a_good_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut s = SecuritySettings::default();
        assert!(s.bootstrap_credential().unwrap().is_none());
        s.bootstrap_user = Some("admin".into());
        assert!(s.bootstrap_credential().is_err());
        s.bootstrap_password_file = Some(file.clone());
        let (user, cred) = s.bootstrap_credential().unwrap().unwrap();
        assert_eq!(user, "admin");
        let decoded = ferry_http::client_auth::scram::DecodedCredential::new(&cred).unwrap();
        assert!(decoded.verify(b"s3cret"));
        std::fs::write(&file, "\n").unwrap();
        assert!(s.bootstrap_credential().is_err(), "empty password");
        s.bootstrap_user = Some("bad:name".into());
        assert!(s.bootstrap_credential().is_err());
    }

    #[test]
    fn client_auth_parses_and_unknown_security_keys_are_refused() {
        let s: SecuritySettings = serde_json::from_str(r#"{"client_auth":"basic"}"#).unwrap();
        assert_eq!(
            s.client_auth,
            ferry_http::client_auth::ClientAuthMode::Basic
        );
        assert!(serde_json::from_str::<SecuritySettings>(r#"{"client_auth":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<SecuritySettings>(r#"{"clientauth":"basic"}"#).is_err());
    }

    #[test]
    fn the_failed_authentication_delay_defaults_to_kafkas_and_is_bounded() {
        let c = ControllerConfig::default();
        assert_eq!(
            c.security.failed_authentication_delay_ms.duration(),
            std::time::Duration::from_millis(100)
        );
        assert!(c.validate().is_ok());
        let s: SecuritySettings =
            serde_json::from_str(r#"{"failed_authentication_delay_ms":0}"#).unwrap();
        assert!(s.failed_authentication_delay_ms.duration().is_zero());
        let e = serde_json::from_value::<ControllerConfig>(serde_json::json!({
            "security": { "failed_authentication_delay_ms": 60_001 }
        }))
        .unwrap_err()
        .to_string();
        assert!(e.contains("failed_authentication_delay_ms"), "{e}");
    }

    #[test]
    fn parses_voters() {
        let c = ControllerConfig {
            node_id: 2,
            voters: "1@http://a:1, 2@http://b:2/,3@http://c:3".into(),
            ..Default::default()
        };
        let v = c.validate().unwrap();
        assert_eq!(
            v[1],
            Voter {
                id: 2,
                url: "http://b:2".into()
            }
        );
        assert_eq!(c.self_url().as_deref(), Some("http://b:2"));
    }

    #[test]
    fn refuses_bad_quorums() {
        let bad = |voters: &str, id| {
            ControllerConfig {
                node_id: id,
                voters: voters.into(),
                ..Default::default()
            }
            .validate()
            .is_err()
        };
        assert!(bad("1@http://a:1,2@http://b:2", 1), "even quorum");
        assert!(bad("1@http://a:1", 2), "self missing");
        assert!(bad("1@a:1", 1), "no scheme");
        assert!(bad("x@http://a:1", 1), "bad id");
        assert!(
            bad("1@http://a:1,1@http://b:1,3@http://c:1", 1),
            "duplicate"
        );
    }
}
