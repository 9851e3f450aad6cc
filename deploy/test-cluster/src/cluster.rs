//! [`TestCluster`]: N controllers and M brokers as real processes, for tests.
//!
//! Calls panic with a clear message instead of returning errors: they are for
//! tests, where a failed kill or an unreachable node is a failed test.

use crate::bins::bin_dir;
use crate::ports::PortBlock;
use ferry_http::auth::{ClusterKey, NodeIdentity, Signer};
use ferry_local_cluster::{ClusterSpec, DataRoots, LocalCluster, NodeKind, NodeSpec};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long nodes get to answer `/readyz` after a start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start; see [`TestCluster::builder`].
#[derive(Debug, Clone)]
pub struct TestClusterBuilder {
    controllers: usize,
    brokers: usize,
    controller_settings: Vec<(String, String)>,
    broker_settings: Vec<(String, String)>,
    http_timeout: Duration,
    data_roots: DataRoots,
    tls: bool,
    client_auth: bool,
}

/// A running cluster of local processes on reserved ports in a temp dir;
/// every process is SIGKILLed when it is dropped.
pub struct TestCluster {
    // Fields drop in this order: the processes die before their dir is
    // removed and before their ports are released to other tests.
    cluster: LocalCluster,
    dir: tempfile::TempDir,
    _ports: PortBlock,
    http: reqwest::Client,
    http_direct: reqwest::Client,
    admin_password: Option<String>,
}

/// The user [`TestClusterBuilder::client_auth_basic`] creates first.
pub const ADMIN_USER: &str = "admin";

impl Drop for TestCluster {
    /// A failed test keeps its cluster's configs, data and logs for a post-mortem.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "ferry-test-cluster: test failed; cluster files kept in {}",
                self.dir.path().display()
            );
        }
    }
}

fn owned(settings: &[(&str, &str)]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl TestClusterBuilder {
    /// Extra controller settings, `(key, value)` with TOML values and dotted
    /// keys for sections (`raft.snapshot_every_entries`).
    pub fn controller_settings(mut self, settings: &[(&str, &str)]) -> Self {
        self.controller_settings.extend(owned(settings));
        self
    }

    /// Extra broker settings, `(key, value)` with TOML values.
    pub fn broker_settings(mut self, settings: &[(&str, &str)]) -> Self {
        self.broker_settings.extend(owned(settings));
        self
    }

    /// `[security]` of every controller and broker: ACLs enforced
    /// (`authorizer = "acl"`) with these super users.
    pub fn acl_authorizer(
        self,
        super_users: &[&str],
        allow_everyone_if_no_acl_found: bool,
    ) -> Self {
        let users: Vec<String> = super_users.iter().map(|u| format!("{u:?}")).collect();
        let users = format!("[{}]", users.join(", "));
        let everyone = allow_everyone_if_no_acl_found.to_string();
        let settings = [
            ("security.authorizer", "\"acl\""),
            ("security.super_users", users.as_str()),
            ("security.allow_everyone_if_no_acl_found", everyone.as_str()),
        ];
        self.controller_settings(&settings)
            .broker_settings(&settings)
    }

    /// Timeout of every request through the cluster's HTTP clients (default 30 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Puts every broker's data dir under `root` (`root/broker-N`) instead of
    /// the cluster's temp dir, e.g. on a power-cut mount.
    pub fn broker_data_root(mut self, root: &Path) -> Self {
        self.data_roots.brokers = Some(root.to_path_buf());
        self
    }

    /// Puts every controller's data dir under `root` (`root/controller-N`).
    pub fn controller_data_root(mut self, root: &Path) -> Self {
        self.data_roots.controllers = Some(root.to_path_buf());
        self
    }

    /// Every node serves TLS with certificates from a throwaway CA
    /// ([`TestCluster::ca_file`]); node URLs are `https://` and the
    /// cluster's HTTP clients trust the CA.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Starts every node with `security.client_auth = "basic"` and the
    /// controllers with a bootstrap user [`ADMIN_USER`], whose password is
    /// [`TestCluster::admin_password`].
    pub fn client_auth_basic(mut self) -> Self {
        self.client_auth = true;
        self
    }

    /// Reserves ports, lays the cluster out in a temp dir, starts every node
    /// (controllers first) and waits until all are ready.
    pub async fn start(self) -> TestCluster {
        let kinds: &[NodeKind] = if self.brokers == 0 {
            &[NodeKind::Controller]
        } else {
            &[NodeKind::Controller, NodeKind::Broker]
        };
        let bin_dir = bin_dir(kinds);
        let offsets: Vec<u16> = (1..=self.controllers as u16)
            .chain((1..=self.brokers as u16).map(|i| 100 + i))
            .collect();
        let ports =
            PortBlock::reserve(&offsets).unwrap_or_else(|e| panic!("reserving test ports: {e:#}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("creating a temp dir: {e}"));
        let mut controller_settings = self.controller_settings;
        let mut broker_settings = self.broker_settings;
        let admin_password = self.client_auth.then(|| {
            let password = ferry_http::auth::random_secret();
            let file = dir.path().join("admin.password");
            std::fs::write(&file, &password)
                .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
            let basic = ("security.client_auth".to_string(), "\"basic\"".to_string());
            controller_settings.extend([
                basic.clone(),
                ("security.bootstrap_user".into(), format!("{ADMIN_USER:?}")),
                (
                    "security.bootstrap_password_file".into(),
                    format!("{:?}", file.display().to_string()),
                ),
            ]);
            broker_settings.push(basic);
            password
        });
        let spec = ClusterSpec {
            controllers: self.controllers,
            brokers: self.brokers,
            base_port: ports.base(),
            bin_dir,
            controller_settings,
            broker_settings,
            data_roots: self.data_roots,
            tls: self.tls,
        };
        let cluster = match LocalCluster::create(dir.path(), spec) {
            Ok(c) => c.kill_on_drop(),
            Err(e) => panic!("laying out the test cluster: {e:#}"),
        };
        if let Err(e) = cluster.up(READY_TIMEOUT).await {
            drop(cluster);
            // Keep the logs the error points at.
            let kept = dir.keep();
            panic!(
                "test cluster did not come up: {e:#} (logs kept in {})",
                kept.display()
            );
        }
        let ca = cluster.ca_file().map(|ca| {
            let pem =
                std::fs::read(&ca).unwrap_or_else(|e| panic!("reading {}: {e}", ca.display()));
            reqwest::Certificate::from_pem(&pem)
                .unwrap_or_else(|e| panic!("CA {}: {e}", ca.display()))
        });
        let client = |redirects: reqwest::redirect::Policy| {
            let mut b = reqwest::Client::builder();
            if let Some(ca) = &ca {
                b = b.add_root_certificate(ca.clone());
            }
            b.redirect(redirects)
                .timeout(self.http_timeout)
                .build()
                .unwrap_or_else(|e| panic!("building an HTTP client: {e}"))
        };
        TestCluster {
            cluster,
            dir,
            _ports: ports,
            http: client(reqwest::redirect::Policy::default()),
            http_direct: client(reqwest::redirect::Policy::none()),
            admin_password,
        }
    }
}

impl TestCluster {
    /// A cluster of `controllers` (1, 3, 5 or 7) and `brokers`.
    pub fn builder(controllers: usize, brokers: usize) -> TestClusterBuilder {
        TestClusterBuilder {
            controllers,
            brokers,
            controller_settings: Vec::new(),
            broker_settings: Vec::new(),
            http_timeout: Duration::from_secs(30),
            data_roots: DataRoots::default(),
            tls: false,
            client_auth: false,
        }
    }

    /// The password of [`ADMIN_USER`] when started with
    /// [`TestClusterBuilder::client_auth_basic`].
    pub fn admin_password(&self) -> Option<&str> {
        self.admin_password.as_deref()
    }

    fn node(&self, name: &str) -> &NodeSpec {
        self.cluster.node(name).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The base URL of node `name` (`controller-N`, `broker-N`).
    pub fn url(&self, name: &str) -> String {
        self.node(name).url()
    }

    /// `controller-1`, `controller-2`, ...
    pub fn controller_names(&self) -> Vec<String> {
        self.cluster.controllers().map(|n| n.name.clone()).collect()
    }

    /// `broker-1`, `broker-2`, ...
    pub fn broker_names(&self) -> Vec<String> {
        self.cluster.brokers().map(|n| n.name.clone()).collect()
    }

    /// Controller base URLs, in id order.
    pub fn controller_urls(&self) -> Vec<String> {
        self.cluster.controller_urls()
    }

    /// Broker base URLs, in id order.
    pub fn broker_urls(&self) -> Vec<String> {
        self.cluster.broker_urls()
    }

    /// The cluster's directory: `NAME/data` per node, `NAME.log`, `NAME.toml`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA file clients must trust, for a cluster built with
    /// [`TestClusterBuilder::tls`].
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.cluster.ca_file()
    }

    /// The data dir of node `name`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.cluster.data_dir(name)
    }

    /// The log file of node `name`.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.cluster.log_file(name)
    }

    /// The runner underneath, for what this harness does not wrap.
    pub fn local_cluster(&self) -> &LocalCluster {
        &self.cluster
    }

    fn check(&self, what: &str, name: &str, r: anyhow::Result<()>) {
        if let Err(e) = r {
            panic!(
                "{what} {name}: {e:#} (log: {})",
                self.log_file(name).display()
            );
        }
    }

    /// SIGKILL, then wait until the process is gone.
    pub fn kill(&self, name: &str) {
        self.check("killing", name, self.cluster.kill(name));
    }

    /// SIGTERM (graceful), SIGKILL after 15 s.
    pub fn stop(&self, name: &str) {
        self.check("stopping", name, self.cluster.stop(name));
    }

    /// Starts a stopped node without waiting for it to be ready.
    pub fn start(&self, name: &str) {
        self.check("starting", name, self.cluster.start(name));
    }

    /// SIGSTOP.
    pub fn pause(&self, name: &str) {
        self.check("pausing", name, self.cluster.pause(name));
    }

    /// SIGCONT.
    pub fn resume(&self, name: &str) {
        self.check("resuming", name, self.cluster.resume(name));
    }

    /// Waits up to `timeout` until node `name` answers `/readyz`.
    pub async fn wait_ready(&self, name: &str, timeout: Duration) {
        let r = self.cluster.wait_ready(name, timeout).await;
        self.check("waiting for", name, r);
    }

    /// Stops node `name` gracefully, starts it again and waits until it is ready.
    pub async fn restart(&self, name: &str) {
        self.stop(name);
        self.start(name);
        self.wait_ready(name, READY_TIMEOUT).await;
    }

    /// Starts every stopped node (controllers first) and waits until all are ready.
    pub async fn start_all(&self) {
        if let Err(e) = self.cluster.up(READY_TIMEOUT).await {
            panic!("starting the test cluster: {e:#}");
        }
    }

    /// An HTTP client that follows redirects (as `curl -L` does).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An HTTP client that does not follow redirects: a follower's 307 is the answer.
    pub fn http_direct(&self) -> &reqwest::Client {
        &self.http_direct
    }

    /// Sends a JSON request following redirects; the status and the body
    /// (`Value::Null` when it is not JSON). Panics when no answer comes.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        send_with(&self.http, method, url, body).await
    }

    /// [`send`](Self::send) without following redirects.
    pub async fn send_direct(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        send_with(&self.http_direct, method, url, body).await
    }

    /// GET `url`, following redirects.
    pub async fn get(&self, url: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, url, None).await
    }

    /// POST `body` to `url`, following redirects.
    pub async fn post(&self, url: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    /// Waits until every running broker's metadata offset (its
    /// `ferry_broker_metadata_offset` gauge, which needs no credentials) is at
    /// least `offset`, e.g. the one an ACL change answered; panics after `timeout`.
    pub async fn wait_brokers_metadata_offset(&self, offset: u64, timeout: Duration) {
        for name in self.broker_names() {
            let url = format!("{}/metrics", self.url(&name));
            let reached = crate::wait_for(timeout, || async {
                let text = self.http.get(&url).send().await.ok()?.text().await.ok()?;
                let at = metric(&text, "ferry_broker_metadata_offset")?;
                (at >= offset as f64).then_some(())
            })
            .await;
            if reached.is_none() {
                panic!("{name} did not reach metadata offset {offset} within {timeout:?}");
            }
        }
    }

    /// The cluster's secret, as the nodes read it.
    pub fn cluster_key(&self) -> ClusterKey {
        let path = self.cluster.secret_file();
        ClusterKey::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A signer holding the cluster's secret, speaking as `identity`: for
    /// tests that call internal endpoints as a stand-in cluster member.
    pub fn signer(&self, identity: NodeIdentity) -> Signer {
        Signer::fixed(self.cluster_key(), identity)
    }

    /// Sends a JSON request to an internal endpoint signed as `identity`,
    /// without following redirects (a redirect would need a new signature).
    pub async fn send_signed(
        &self,
        identity: NodeIdentity,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let headers = self.signer(identity).headers(&method, url, &bytes);
        let mut req = self
            .http_direct
            .request(method.clone(), url)
            .headers(headers);
        if body.is_some() {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        answer(req, &method, url).await
    }
}

async fn send_with(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(b);
    }
    answer(req, &method, url).await
}

/// Sends `req`; the status and the JSON body (`Value::Null` when it is not JSON).
async fn answer(req: reqwest::RequestBuilder, method: &reqwest::Method, url: &str) -> (u16, Value) {
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The value of an unlabelled Prometheus sample `name` in `text`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
