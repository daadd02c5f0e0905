//! Reads secrets from Secrets Manager with GetSecretValue.

use std::time::Instant;

use aws_config::{Region, SdkConfig};
use aws_sdk_secretsmanager::Client;

use super::FetchError;
use crate::log;
use crate::secret::Secret;

/// Builds a client for `region`, or for the configured region when `None`.
pub fn client(config: &SdkConfig, region: Option<&str>) -> Client {
    let mut builder = aws_sdk_secretsmanager::config::Builder::from(config);
    if let Some(region) = region {
        builder = builder.region(Region::new(region.to_owned()));
    }
    Client::from_conf(builder.build())
}

/// Fetches the SecretString of the secret `id` (a name or an ARN).
pub async fn get(client: &Client, id: &str) -> Result<Secret, FetchError> {
    let started = Instant::now();
    let result = client.get_secret_value().secret_id(id).send().await;
    log::debug!(
        "GetSecretValue {id}: {} in {} ms",
        if result.is_ok() { "ok" } else { "failed" },
        started.elapsed().as_millis()
    );
    let mut output = result.map_err(FetchError::from_sdk)?;
    match output.secret_string.take() {
        Some(text) => Ok(Secret::from_string(text)),
        None if output.secret_binary.is_some() => Err(FetchError::Binary),
        None => Err(FetchError::Empty),
    }
}
