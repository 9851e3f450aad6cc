//! Raft RPCs between controllers over HTTP/JSON (`/raft/v1/*`).
//!
//! One reqwest client per peer, reused for every RPC, each signed as this
//! controller. Connection failures map to `Unreachable` so openraft backs off
//! instead of spinning.

use super::peer_contacts::PeerContacts;
use super::types::{NodeId, TypeConfig};
use ferry_http::auth::Signer;
use ferry_http::tls::ClientTls;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Creates (and caches) one HTTP client per peer.
pub struct HttpNetwork {
    clients: HashMap<NodeId, reqwest::Client>,
    contacts: Arc<PeerContacts>,
    signer: Signer,
    tls: ClientTls,
}

impl HttpNetwork {
    pub fn new(contacts: Arc<PeerContacts>, signer: Signer) -> Self {
        HttpNetwork {
            clients: HashMap::new(),
            contacts,
            signer,
            tls: ClientTls::default(),
        }
    }

    /// Peers are reached with `tls` (the cluster CA, https only).
    pub fn with_tls(self, tls: ClientTls) -> Self {
        HttpNetwork { tls, ..self }
    }
}

/// The connection to one peer.
pub struct PeerConnection {
    target: NodeId,
    base_url: String,
    client: reqwest::Client,
    contacts: Arc<PeerContacts>,
    signer: Signer,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        let tls = &self.tls;
        let client = self
            .clients
            .entry(target)
            .or_insert_with(|| {
                tls.apply(reqwest::Client::builder())
                    .connect_timeout(Duration::from_millis(500))
                    .pool_max_idle_per_host(4)
                    .tcp_nodelay(true)
                    .build()
                    .unwrap_or_default()
            })
            .clone();
        PeerConnection {
            target,
            base_url: node.addr.trim_end_matches('/').to_string(),
            client,
            contacts: self.contacts.clone(),
            signer: self.signer.clone(),
        }
    }
}

impl PeerConnection {
    async fn post<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let url = format!("{}{path}", self.base_url);
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let headers = self.signer.headers(&reqwest::Method::POST, path, &body);
        let res = self
            .client
            .post(&url)
            .timeout(option.hard_ttl())
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !res.status().is_success() {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            let err = std::io::Error::other(format!("{url} answered {status}: {body}"));
            return Err(RPCError::Network(NetworkError::new(&err)));
        }
        let body: Result<Resp, RaftError<NodeId, E>> = res
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.contacts.touch(self.target);
        body.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.post("/raft/v1/append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.post("/raft/v1/snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.post("/raft/v1/vote", &rpc, &option).await
    }
}
