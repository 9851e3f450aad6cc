//! The broker's extractors: `ApiJson` / `ApiQuery` answering with a
//! [`BrokerError`] body (see [`ferry_http::extract`]), and path parameters.

use crate::error::BrokerError;

ferry_http::extractors!(BrokerError);

/// A partition number from the path.
pub fn partition_param(raw: &str) -> Result<u32, BrokerError> {
    raw.parse().map_err(|_| {
        BrokerError::InvalidRequest(format!("partition '{raw}' is not a non-negative integer"))
    })
}
