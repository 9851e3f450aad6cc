//! What every command gets: the cluster's endpoints, the output mode and
//! the credentials.

use anyhow::{bail, Result};
use ferry_client::{AdminClient, Credentials, Endpoints};

/// The discovered cluster, whether to print JSON, and who to authenticate as.
pub struct Ctx {
    pub ep: Endpoints,
    pub json: bool,
    pub credentials: Option<Credentials>,
}

impl Ctx {
    /// An admin client for the controllers, which `--bootstrap` must name.
    pub fn admin(&self) -> Result<AdminClient> {
        if self.ep.controllers.is_empty() {
            bail!("this command needs a controller URL in --bootstrap");
        }
        Ok(AdminClient::new(self.ep.controllers.clone())
            .with_credentials_opt(self.credentials.clone()))
    }
}
