//! A minimal broker over real HTTP for testing the controller's broker side:
//! it registers, heartbeats with its applied metadata offset, accepts pushed
//! deltas (checking order), and resyncs from a snapshot when it sees a gap or
//! the push tells it to.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use ferry_common::internal::{
    HeartbeatRequest, MetadataPush, MetadataPushResponse, RegisterBrokerRequest,
};
use ferry_common::metadata::{DeltaFit, MetadataImage};
use ferry_common::BrokerId;
use ferry_http::auth::{ClusterKey, NodeIdentity, Signer};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// What the stand-in has seen.
pub struct StandInState {
    pub image: Mutex<MetadataImage>,
    /// Offsets of deltas applied, in the order applied.
    pub applied: Mutex<Vec<u64>>,
    pub gaps: AtomicUsize,
    pub snapshots: AtomicUsize,
    pub epoch: AtomicU64,
    pub last_heartbeat: Mutex<Option<Value>>,
    controllers: Vec<String>,
    http: reqwest::Client,
    key: ClusterKey,
    /// Who it signs as: `broker:new` until registered.
    identity: Mutex<NodeIdentity>,
}

/// A running stand-in broker.
pub struct BrokerStandIn {
    pub id: BrokerId,
    pub url: String,
    pub state: Arc<StandInState>,
    tasks: Vec<JoinHandle<()>>,
}

impl StandInState {
    /// POSTs to the active controller, following NOT_CONTROLLER hints.
    fn signed(&self, method: reqwest::Method, url: &str, body: &[u8]) -> reqwest::RequestBuilder {
        let me = *self.identity.lock().unwrap();
        let headers = Signer::fixed(self.key.clone(), me).headers(&method, url, body);
        self.http
            .request(method, url)
            .headers(headers)
            .header("content-type", "application/json")
            .body(body.to_vec())
    }

    async fn post_controller(&self, path: &str, body: &Value) -> Result<Value, String> {
        let mut last = String::new();
        let bytes = body.to_string().into_bytes();
        for attempt in 0..40 {
            let base = &self.controllers[attempt % self.controllers.len()];
            let url = format!("{base}{path}");
            let res = self
                .signed(reqwest::Method::POST, &url, &bytes)
                .send()
                .await;
            match res {
                Ok(r) => {
                    let status = r.status();
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    if status.is_success() {
                        return Ok(v);
                    }
                    if v["error_code"] != "NOT_CONTROLLER" && v["error_code"] != "REQUEST_TIMED_OUT"
                    {
                        return Err(v.to_string());
                    }
                    last = v.to_string();
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }

    async fn pull_snapshot(&self) {
        for base in self.controllers.iter().cycle().take(20) {
            let url = format!("{base}/internal/v1/metadata/snapshot");
            let res = self.signed(reqwest::Method::GET, &url, b"").send().await;
            if let Ok(r) = res {
                if let Ok(img) = r.json::<MetadataImage>().await {
                    let mut mine = self.image.lock().unwrap();
                    if img.offset >= mine.offset {
                        *mine = img;
                    }
                    self.snapshots.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn offset(&self) -> u64 {
        self.image.lock().unwrap().offset
    }
}

async fn on_push(
    State(st): State<Arc<StandInState>>,
    Json(push): Json<MetadataPush>,
) -> Json<MetadataPushResponse> {
    for attempt in 0..2 {
        let gap = {
            let mut img = st.image.lock().unwrap();
            let mut gap = false;
            for d in &push.deltas {
                match img.apply_delta(d) {
                    DeltaFit::Next => st.applied.lock().unwrap().push(d.offset),
                    DeltaFit::Stale => {}
                    DeltaFit::Gap => {
                        gap = true;
                        break;
                    }
                }
            }
            if !gap && img.last_record_offset == push.head_last_record_offset {
                img.offset = img.offset.max(push.head_offset);
            }
            gap
        };
        let told = push.resync && attempt == 0;
        if !gap && !told {
            break;
        }
        if gap {
            st.gaps.fetch_add(1, Ordering::SeqCst);
        }
        st.pull_snapshot().await;
    }
    Json(MetadataPushResponse {
        applied_offset: st.offset(),
    })
}

impl BrokerStandIn {
    /// Starts serving, registers (with `id` or asking for one) and heartbeats.
    /// With `snapshot_first` it pulls a snapshot before heartbeating, as a real broker does.
    /// It signs its calls with `key`, the cluster's secret.
    pub async fn start(
        controllers: Vec<String>,
        key: ClusterKey,
        id: Option<BrokerId>,
        snapshot_first: bool,
    ) -> BrokerStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(StandInState {
            image: Mutex::new(MetadataImage::default()),
            applied: Mutex::new(Vec::new()),
            gaps: AtomicUsize::new(0),
            snapshots: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
            last_heartbeat: Mutex::new(None),
            controllers,
            key,
            identity: Mutex::new(
                id.map_or(NodeIdentity::NewBroker, |id| NodeIdentity::Broker(id.0)),
            ),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        });
        let app = Router::new()
            .route("/internal/v1/metadata/deltas", post(on_push))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let reg = RegisterBrokerRequest {
            broker_id: id,
            url: url.clone(),
            rack: None,
            incarnation_id: uuid::Uuid::new_v4().to_string(),
            cluster_id: None,
            previous_shutdown: Default::default(),
        };
        let v = state
            .post_controller(
                "/internal/v1/brokers/register",
                &serde_json::to_value(&reg).unwrap(),
            )
            .await
            .expect("registration");
        let id = BrokerId(v["broker_id"].as_u64().unwrap() as u32);
        *state.identity.lock().unwrap() = NodeIdentity::Broker(id.0);
        state
            .epoch
            .store(v["broker_epoch"].as_u64().unwrap(), Ordering::SeqCst);
        if snapshot_first {
            state.pull_snapshot().await;
        }
        let hb_state = state.clone();
        let heartbeat = tokio::spawn(async move {
            loop {
                let req = HeartbeatRequest {
                    broker_epoch: hb_state.epoch.load(Ordering::SeqCst),
                    metadata_offset: hb_state.offset(),
                };
                let path = format!("/internal/v1/brokers/{id}/heartbeat");
                if let Ok(v) = hb_state
                    .post_controller(&path, &serde_json::to_value(&req).unwrap())
                    .await
                {
                    *hb_state.last_heartbeat.lock().unwrap() = Some(v);
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        BrokerStandIn {
            id,
            url,
            state,
            tasks: vec![server, heartbeat],
        }
    }

    /// Stops serving and heartbeating, like a crashed broker.
    pub fn crash(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }

    pub fn image(&self) -> MetadataImage {
        self.state.image.lock().unwrap().clone()
    }

    pub fn applied_offsets(&self) -> Vec<u64> {
        self.state.applied.lock().unwrap().clone()
    }
}

impl Drop for BrokerStandIn {
    fn drop(&mut self) {
        self.crash();
    }
}
