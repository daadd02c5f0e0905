//! Reads secrets from Secrets Manager with GetSecretValue.
//!
//! A SecretString comes out as it is. A SecretBinary comes out as standard
//! base64 text with padding, since an environment variable cannot hold
//! arbitrary bytes.

use std::time::Instant;

use aws_config::{Region, SdkConfig};
use aws_sdk_secretsmanager::Client;

use zeroize::Zeroizing;

use super::FetchError;
use super::retry::{Calls, Progress};
use crate::log;
use crate::reference::SecretVersion;
use crate::secret::Secret;

/// Builds a client for `region`, or for the configured region when `None`.
pub fn client(config: &SdkConfig, region: Option<&str>) -> Client {
    let mut builder = aws_sdk_secretsmanager::config::Builder::from(config);
    if let Some(region) = region {
        builder = builder.region(Region::new(region.to_owned()));
    }
    Client::from_conf(builder.build())
}

/// Fetches `version` of the secret `id` (a name or an ARN), retrying
/// through `calls`.
pub async fn get(
    calls: &Calls,
    progress: &Progress,
    client: &Client,
    id: &str,
    version: &SecretVersion,
) -> Result<Secret, FetchError> {
    let started = Instant::now();
    let shown = match (&version.stage, &version.id) {
        (None, None) => String::new(),
        (Some(stage), None) => format!(" (stage {stage})"),
        (None, Some(id)) => format!(" (version {id})"),
        (Some(stage), Some(id)) => format!(" (stage {stage}, version {id})"),
    };
    let what = format!("GetSecretValue {id}{shown}");
    let result = calls
        .send(&what, progress, || {
            client
                .get_secret_value()
                .secret_id(id)
                .set_version_stage(version.stage.clone())
                .set_version_id(version.id.clone())
                .send()
        })
        .await;
    log::debug!(
        "GetSecretValue {id}{shown}: {} in {} ms",
        if result.is_ok() { "ok" } else { "failed" },
        started.elapsed().as_millis()
    );
    let mut output = result?;
    if let Some(text) = output.secret_string.take() {
        return Ok(Secret::from_string(text));
    }
    match output.secret_binary.take() {
        Some(blob) => {
            let bytes = Zeroizing::new(blob.into_inner());
            Ok(Secret::new(base64(&bytes)))
        }
        None => Err(FetchError::Empty),
    }
}

/// Encodes `bytes` as standard base64 (RFC 4648, section 4) with padding.
fn base64(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(bits >> (18 - 6 * index) & 0x3f) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        // The test vectors of RFC 4648, section 10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded.as_bytes(), "{plain:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff, 0x00]), b"+/8A");
    }
}
