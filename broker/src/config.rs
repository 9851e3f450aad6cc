//! Broker configuration: defaults -> optional TOML file -> `FERRY_BROKER__*` env.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The longest acks wait a produce request may ask for (`timeout_ms`).
pub const MAX_PRODUCE_TIMEOUT_MS: u64 = 300_000;

/// Everything a broker process needs to know at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Fixed broker id; without one the controller allocates an id on first start
    /// and the broker keeps it in `data_dir`.
    pub broker_id: Option<u32>,
    pub listen_addr: String,
    /// URL other brokers and clients use to reach this broker (default: from
    /// `listen_addr`). `{hostname}` is replaced by the machine's host name, so
    /// one setting serves every replica of a scaled container service.
    pub advertised_url: Option<String>,
    /// Controller URLs, comma-separated.
    pub controllers: String,
    pub rack: Option<String>,
    pub data_dir: PathBuf,
    /// Treat `data_dir` as shared by several brokers (one volume for a scaled
    /// service): each claims the first free `data_dir/slot-N` with an exclusive
    /// file lock and keeps its identity there across restarts.
    pub claim_data_slot: bool,
    pub heartbeat_interval_ms: u64,
    /// Largest accepted produce body.
    pub max_request_bytes: usize,
    /// `write.caching` of topics that do not set it. false (the default):
    /// a record is acknowledged and counts toward the HW only once fsynced on
    /// the replica reporting it (group commit); true: from the page cache, as Kafka.
    pub write_caching_default: bool,
    /// Legacy: `true` makes every topic durable, even one with
    /// `write.caching=true`; `false` has no effect (durable is the default now).
    pub flush_on_append: bool,
    /// How often retention is enforced.
    pub retention_check_interval_ms: u64,
    /// Upper bound for a fetch's `max_wait_ms`.
    pub fetch_max_wait_ms: u64,
    /// Default acks=all wait before `REQUEST_TIMED_OUT` (a request's own
    /// `timeout_ms` wins, up to [`MAX_PRODUCE_TIMEOUT_MS`]).
    pub produce_timeout_ms: u64,
    /// A follower not caught up for this long leaves the ISR (Kafka's `replica.lag.time.max.ms`).
    pub replica_lag_time_max_ms: u64,
    /// On SIGTERM, how long to wait for the controller to move leadership away.
    pub controlled_shutdown_timeout_ms: u64,
    /// A new consumer group's first assignment waits this long, so members
    /// that start together share it (Kafka's `group.initial.rebalance.delay.ms`).
    pub group_initial_rebalance_delay_ms: u64,
    /// Fetches waiting for new records at once; one more answers
    /// `THROTTLING_QUOTA_EXCEEDED` (503) instead of waiting.
    pub max_long_polls: usize,
    /// Memory all in-flight fetches may use for their records and JSON
    /// together; a fetch that cannot get its share in time answers 503.
    pub fetch_memory_bytes: usize,
    /// Connection, header, body and concurrency bounds of the listener.
    pub server: ferry_http::ServerSettings,
    /// File holding the secret every member of this cluster shares (at least
    /// 32 bytes); internal calls are signed with it. Required.
    pub cluster_secret_file: Option<PathBuf>,
    /// Replication factor `__consumer_offsets` is created with (Kafka's
    /// `offsets.topic.replication.factor`); groups are unavailable until that
    /// many brokers are registered.
    pub offsets_topic_replication_factor: u16,
    /// TLS for the listener and trust for calls to other nodes; with it,
    /// `controllers` and the advertised URL are `https://`.
    pub tls: ferry_http::tls::TlsSettings,
    /// Client authentication (`[security]`).
    pub security: SecuritySettings,
    /// Fault injection for tests (feature `fault-injection` only; without it
    /// the key is refused): every Nth produce request is appended but
    /// answered `REQUEST_TIMED_OUT`, like an acknowledgement lost on the way
    /// back (0 = off).
    #[cfg(feature = "fault-injection")]
    pub fault_lose_produce_ack_every: u64,
    /// `[storage]`: descriptors and start-up of the partition logs.
    pub storage: StorageSettings,
}

/// `[storage]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Most segment files open at once over all replicas (an LRU of
    /// handles; others are reopened on demand). Capped at start to the
    /// descriptor limit minus `fd_reserve`.
    pub open_segment_handles_max: usize,
    /// Descriptors kept free for sockets: a replica is refused (offline,
    /// `KAFKA_STORAGE_ERROR`) rather than opened into this reserve.
    pub fd_reserve: usize,
    /// Replicas opened (recovered) at once at start-up.
    pub replica_open_concurrency: usize,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            open_segment_handles_max: 4096,
            fd_reserve: 1024,
            replica_open_concurrency: 4,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            broker_id: None,
            listen_addr: "127.0.0.1:7201".into(),
            advertised_url: None,
            controllers: "http://127.0.0.1:7101".into(),
            rack: None,
            data_dir: PathBuf::from("data/broker"),
            claim_data_slot: false,
            heartbeat_interval_ms: 1_000,
            max_request_bytes: 16 * 1024 * 1024,
            write_caching_default: false,
            flush_on_append: false,
            retention_check_interval_ms: 30_000,
            fetch_max_wait_ms: 30_000,
            produce_timeout_ms: 30_000,
            replica_lag_time_max_ms: 10_000,
            controlled_shutdown_timeout_ms: 10_000,
            group_initial_rebalance_delay_ms: 3_000,
            max_long_polls: 1_024,
            fetch_memory_bytes: 256 * 1024 * 1024,
            server: ferry_http::ServerSettings::default(),
            cluster_secret_file: None,
            offsets_topic_replication_factor: 3,
            tls: ferry_http::tls::TlsSettings::default(),
            security: SecuritySettings::default(),
            #[cfg(feature = "fault-injection")]
            fault_lose_produce_ack_every: 0,
            storage: StorageSettings::default(),
        }
    }
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
#[error("invalid broker config: {0}")]
pub struct ConfigInvalid(pub String);

impl BrokerConfig {
    /// Reads the cluster secret from `cluster_secret_file`, which must be set.
    pub fn cluster_key(&self) -> Result<ferry_http::auth::ClusterKey, ConfigInvalid> {
        ferry_http::auth::ClusterKey::from_setting(
            self.cluster_secret_file.as_deref(),
            "FERRY_BROKER__CLUSTER_SECRET_FILE",
        )
        .map_err(ConfigInvalid)
    }

    /// Checks the config; answers the controller URLs.
    pub fn validate(&self) -> Result<Vec<String>, ConfigInvalid> {
        self.security
            .authorizer()
            .validate()
            .map_err(ConfigInvalid)?;
        let controllers: Vec<String> = self
            .controllers
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if controllers.is_empty() {
            return Err(ConfigInvalid("controllers is empty".into()));
        }
        if let Some(bad) = controllers
            .iter()
            .find(|u| !u.starts_with("http://") && !u.starts_with("https://"))
        {
            return Err(ConfigInvalid(format!(
                "controller url '{bad}' must start with http://"
            )));
        }
        if self.heartbeat_interval_ms == 0
            || self.retention_check_interval_ms == 0
            || self.replica_lag_time_max_ms == 0
        {
            return Err(ConfigInvalid("intervals must be > 0".into()));
        }
        if self.max_request_bytes < 1024 {
            return Err(ConfigInvalid(
                "max_request_bytes must be at least 1024".into(),
            ));
        }
        if self.max_long_polls == 0 || self.fetch_memory_bytes < 1024 * 1024 {
            return Err(ConfigInvalid(
                "max_long_polls must be at least 1 and fetch_memory_bytes at least 1 MiB".into(),
            ));
        }
        self.server.validate().map_err(ConfigInvalid)?;
        if self.offsets_topic_replication_factor == 0 {
            return Err(ConfigInvalid(
                "offsets_topic_replication_factor must be at least 1".into(),
            ));
        }
        self.tls
            .validate("FERRY_BROKER__TLS__")
            .and_then(|()| {
                self.tls
                    .check_urls("controller url", controllers.iter().map(String::as_str))
            })
            .and_then(|()| {
                self.tls
                    .check_urls("advertised_url", self.advertised_url.as_deref())
            })
            .map_err(ConfigInvalid)?;
        Ok(controllers)
    }

    /// Reads the `[tls]` PEM files (the broker refuses to start on any error).
    pub fn load_tls(&self) -> Result<ferry_http::tls::LoadedTls, ConfigInvalid> {
        self.tls.load().map_err(ConfigInvalid)
    }

    /// The URL this broker registers with.
    pub fn advertised(&self, bound: std::net::SocketAddr) -> String {
        match &self.advertised_url {
            Some(u) if u.contains("{hostname}") => {
                u.trim_end_matches('/').replace("{hostname}", &hostname())
            }
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("{}://{bound}", self.tls.scheme()),
        }
    }
}

/// `[security]`: how clients authenticate, and what they may do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// `"none"` (default: every client is `User:ANONYMOUS`) or `"basic"`
    /// (HTTP Basic against the users in the metadata the controller pushes).
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
}

/// This machine's host name (a container's is its id or compose-given name).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Claims the first free `parent/slot-N` (N = 0, 1, ...) by taking an
/// exclusive lock on its lock file; the returned file must stay open for the
/// process lifetime. Slots are taken densely from 0, so after a restart of
/// the whole service every slot that holds an identity is claimed again.
pub fn claim_slot(parent: &std::path::Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    std::fs::create_dir_all(parent)?;
    for n in 0..1024 {
        let dir = parent.join(format!("slot-{n}"));
        std::fs::create_dir_all(&dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("slot.lock"))?;
        match lock.try_lock() {
            Ok(()) => return Ok((dir, lock)),
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free data slot among 1024"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_exclusive_and_reused_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let (a, lock_a) = claim_slot(dir.path()).unwrap();
        let (b, _lock_b) = claim_slot(dir.path()).unwrap();
        assert_ne!(a, b);
        drop(lock_a);
        let (c, _lock_c) = claim_slot(dir.path()).unwrap();
        assert_eq!(a, c, "a released slot is taken again");
    }

    #[test]
    fn fault_knob_exists_only_with_its_feature() {
        let parsed = serde_json::from_value::<BrokerConfig>(
            serde_json::json!({ "fault_lose_produce_ack_every": 7 }),
        );
        assert_eq!(parsed.is_ok(), cfg!(feature = "fault-injection"));
    }

    #[test]
    fn tls_makes_every_url_https_and_refuses_unreadable_pem() {
        let mut cfg = BrokerConfig {
            tls: ferry_http::tls::TlsSettings {
                cert_file: Some("/nonexistent/cert.pem".into()),
                key_file: Some("/nonexistent/key.pem".into()),
                ca_file: None,
            },
            ..Default::default()
        };
        let e = cfg.validate().unwrap_err().0;
        assert!(
            e.contains("controller url 'http://127.0.0.1:7101' must start with https://"),
            "{e}"
        );
        cfg.controllers = "https://127.0.0.1:7101".into();
        cfg.advertised_url = Some("http://b:1".into());
        let e = cfg.validate().unwrap_err().0;
        assert!(e.contains("advertised_url 'http://b:1'"), "{e}");
        cfg.advertised_url = None;
        assert!(cfg.validate().is_ok());
        assert_eq!(
            cfg.advertised("127.0.0.1:9".parse().unwrap()),
            "https://127.0.0.1:9"
        );
        let e = cfg.load_tls().err().unwrap().0;
        assert!(
            e.contains("reading TLS certificates /nonexistent/cert.pem"),
            "{e}"
        );
        cfg.tls.key_file = None;
        let e = cfg.validate().unwrap_err().0;
        assert!(e.contains("FERRY_BROKER__TLS__KEY_FILE"), "{e}");
    }

    #[test]
    fn hostname_template() {
        let cfg = BrokerConfig {
            advertised_url: Some("http://{hostname}:7201/".into()),
            ..Default::default()
        };
        let url = cfg.advertised("0.0.0.0:7201".parse().unwrap());
        assert!(
            url.starts_with("http://") && url.ends_with(":7201") && !url.contains('{'),
            "{url}"
        );
    }
}
