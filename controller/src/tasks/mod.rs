//! The controller's background loops: the one list of what runs besides the
//! HTTP server, each until shutdown.
//!
//! - [`leadership`]: active-controller duties (cluster id, fencing expired
//!   broker sessions, preferred-leader rebalancing).
//! - [`metadata_push`]: pushing committed metadata deltas to brokers.

pub mod leadership;
pub mod metadata_push;

use leadership::Leadership;
use metadata_push::{DeltaSink, Pusher};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running background loops.
pub struct Tasks {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

/// Starts every background loop.
pub fn spawn<S: DeltaSink>(leadership: Leadership, pusher: Pusher, sink: Arc<S>) -> Tasks {
    let (stop, stop_rx) = watch::channel(false);
    let handles = vec![
        tokio::spawn(leadership::run(leadership, stop_rx.clone())),
        tokio::spawn(metadata_push::run(pusher, sink, stop_rx)),
    ];
    Tasks { stop, handles }
}

impl Tasks {
    /// Signals every loop to stop and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}
