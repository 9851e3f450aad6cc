//! Config loading: defaults -> optional file -> `FERRY_<SERVICE>__SECTION__KEY` env.

use serde::de::DeserializeOwned;
use std::path::Path;

/// Loads `T` from an optional TOML file and environment variables with `env_prefix`
/// (e.g. `FERRY_CONTROLLER`), keys separated by `__`. `T` should use
/// `#[serde(default, deny_unknown_fields)]` so that typos are refused.
pub fn load<T: DeserializeOwned>(
    file: Option<&Path>,
    env_prefix: &str,
) -> Result<T, config::ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(config::File::from(path).required(true));
    }
    builder = builder.add_source(
        config::Environment::with_prefix(env_prefix)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true),
    );
    builder.build()?.try_deserialize()
}
