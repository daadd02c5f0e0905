//! Reads parameters from Parameter Store, decrypting SecureStrings.
//!
//! Plain names go out in GetParameters batches. ARNs, names with a
//! `:VERSION` or `:LABEL` selector and the `/aws/reference/secretsmanager/`
//! path go one at a time with GetParameter: GetParameters rejects the
//! reference path, and the name it returns for an ARN or a selector is not
//! the one that was asked for. When GetParameters is denied, a batch falls
//! back to GetParameter for each of its names, so that a policy granting
//! only `ssm:GetParameter` still works.

use std::collections::HashSet;
use std::time::Instant;

use aws_config::{Region, SdkConfig};
use aws_sdk_ssm::Client;

use super::FetchError;
use super::retry::{Calls, Progress};
use crate::log;
use crate::reference::SECRETS_MANAGER_PATH;
use crate::secret::Secret;

/// The most names GetParameters accepts in one call.
pub const BATCH_LIMIT: usize = 10;

/// Builds a client for `region`, or for the configured region when `None`.
pub fn client(config: &SdkConfig, region: Option<&str>) -> Client {
    let mut builder = aws_sdk_ssm::config::Builder::from(config);
    if let Some(region) = region {
        builder = builder.region(Region::new(region.to_owned()));
    }
    Client::from_conf(builder.build())
}

/// Tells whether `name` can go out in a GetParameters batch. A name with
/// a `:VERSION` or `:LABEL` selector goes alone too: GetParameters answers
/// with the bare name, which cannot tell two selectors of one parameter
/// apart.
pub fn batchable(name: &str) -> bool {
    !name.starts_with("arn:") && !name.starts_with(SECRETS_MANAGER_PATH) && !name.contains(':')
}

/// Fetches one parameter by name or ARN with GetParameter, retrying
/// through `calls`.
pub async fn get(
    calls: &Calls,
    progress: &Progress,
    client: &Client,
    name: &str,
) -> Result<Secret, FetchError> {
    let started = Instant::now();
    let result = calls
        .send(&format!("GetParameter {name}"), progress, || {
            client
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
        })
        .await;
    log::debug!(
        "GetParameter {name}: {} in {} ms",
        if result.is_ok() { "ok" } else { "failed" },
        started.elapsed().as_millis()
    );
    result?
        .parameter
        .and_then(|parameter| parameter.value)
        .map(Secret::from_string)
        .ok_or(FetchError::Empty)
}

/// Fetches up to [`BATCH_LIMIT`] parameters with one GetParameters call,
/// or with GetParameter for each when GetParameters is denied, returning a
/// result for every name asked for.
pub async fn get_batch(
    calls: &Calls,
    progress: &Progress,
    client: &Client,
    names: &[String],
) -> Vec<(String, Result<Secret, FetchError>)> {
    let started = Instant::now();
    let what = format!("GetParameters ({} names)", names.len());
    let result = calls
        .send(&what, progress, || {
            client
                .get_parameters()
                .set_names(Some(names.to_vec()))
                .with_decryption(true)
                .send()
        })
        .await;
    log::debug!(
        "GetParameters ({} names): {} in {} ms",
        names.len(),
        if result.is_ok() { "ok" } else { "failed" },
        started.elapsed().as_millis()
    );
    let output = match result {
        Ok(output) => output,
        Err(FetchError::Service { code, .. }) if code == "AccessDeniedException" => {
            if calls.first_fallback() {
                log::info!(
                    "GetParameters was denied; reading parameters one at a time with GetParameter"
                );
            }
            let each = names.iter().map(|name| async move {
                (name.clone(), get(calls, progress, client, name).await)
            });
            return futures_util::future::join_all(each).await;
        }
        Err(error) => {
            return names
                .iter()
                .map(|name| (name.clone(), Err(error.clone())))
                .collect();
        }
    };

    let mut found: Vec<(String, Secret)> = output
        .parameters
        .unwrap_or_default()
        .into_iter()
        .filter_map(|parameter| Some((parameter.name?, Secret::from_string(parameter.value?))))
        .collect();
    let invalid = output.invalid_parameters.unwrap_or_default();

    names
        .iter()
        .map(|name| {
            let value = match found.iter().position(|(found, _)| same_name(name, found)) {
                Some(index) => Ok(found.swap_remove(index).1),
                None if invalid.iter().any(|invalid| same_name(name, invalid)) => {
                    Err(FetchError::Service {
                        code: "ParameterNotFound".to_owned(),
                        message: "GetParameters listed it among InvalidParameters".to_owned(),
                    })
                }
                None => Err(FetchError::Empty),
            };
            (name.clone(), value)
        })
        .collect()
}

/// Fetches every parameter under `path`, recursively, following every
/// page and retrying each through `calls`: (full name, value) for each.
pub async fn get_path(
    calls: &Calls,
    progress: &Progress,
    client: &Client,
    path: &str,
) -> Result<Vec<(String, Secret)>, FetchError> {
    let started = Instant::now();
    let mut found = Vec::new();
    let mut next_token = None;
    // A server that hands out a token it gave before would keep this loop
    // going, and calling, until the deadline.
    let mut tokens = HashSet::new();
    let mut pages = 0;
    loop {
        let token = next_token.take();
        let what = format!("GetParametersByPath {path} (page {})", pages + 1);
        let result = calls
            .send(&what, progress, || {
                client
                    .get_parameters_by_path()
                    .path(path)
                    .recursive(true)
                    .with_decryption(true)
                    .set_next_token(token.clone())
                    .send()
            })
            .await;
        pages += 1;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                log::debug!("GetParametersByPath {path}: failed on page {pages}");
                return Err(error);
            }
        };
        for parameter in output.parameters.unwrap_or_default() {
            if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                found.push((name, Secret::from_string(value)));
            }
        }
        match output.next_token {
            Some(token) if !token.is_empty() => {
                if !tokens.insert(token.clone()) {
                    log::debug!("GetParametersByPath {path}: page {pages} repeats a token");
                    return Err(FetchError::RepeatedPage(pages));
                }
                next_token = Some(token);
            }
            _ => break,
        }
    }
    log::debug!(
        "GetParametersByPath {path}: {} parameters in {pages} page(s), {} ms",
        found.len(),
        started.elapsed().as_millis()
    );
    Ok(found)
}

/// Tells whether the name Parameter Store answered with is the one asked
/// for. A one-level name may be written with or without a leading `/`,
/// and Parameter Store may answer either way: `/token` and `token` are the
/// same parameter.
fn same_name(asked: &str, answered: &str) -> bool {
    fn one_level(name: &str) -> &str {
        match name.strip_prefix('/') {
            Some(rest) if !rest.contains('/') => rest,
            _ => name,
        }
    }
    one_level(asked) == one_level(answered)
}

#[cfg(test)]
mod tests {
    use super::same_name;

    #[test]
    fn a_leading_slash_on_a_one_level_name_is_the_same_parameter() {
        assert!(same_name("/token", "token"));
        assert!(same_name("token", "token"));
        assert!(same_name("/app/token", "/app/token"));
        assert!(!same_name("/app/token", "app/token"));
        assert!(same_name("token", "/token"));
        assert!(!same_name("/token", "other"));
    }
}
