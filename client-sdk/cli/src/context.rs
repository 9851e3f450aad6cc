//! What every command gets: the cluster's endpoints and the output mode.

use anyhow::{bail, Result};
use ferry_client::{AdminClient, Endpoints};

/// The discovered cluster and whether to print JSON.
pub struct Ctx {
    pub ep: Endpoints,
    pub json: bool,
}

impl Ctx {
    /// An admin client for the controllers, which `--bootstrap` must name.
    pub fn admin(&self) -> Result<AdminClient> {
        if self.ep.controllers.is_empty() {
            bail!("this command needs a controller URL in --bootstrap");
        }
        Ok(AdminClient::new(self.ep.controllers.clone()))
    }
}
