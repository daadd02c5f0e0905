//! Checks that AWS credentials work, for a container's health check.

use std::time::Duration;

use aws_config::BehaviorVersion;

use crate::aws_error;
use crate::exit_code;
use crate::log;

/// The whole check, credential lookup included, must finish within this.
const LIMIT: Duration = Duration::from_secs(5);

/// Calls STS GetCallerIdentity and returns the exit code: 0 when it
/// answered, 1 otherwise.
pub fn run() -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log::error!("health check failed: cannot start the async runtime: {error}");
            return exit_code::UNHEALTHY;
        }
    };

    let http_client = match crate::trust::http_client(|name| std::env::var_os(name)) {
        Ok(client) => client,
        Err(error) => {
            log::error!("health check failed: {error}");
            return exit_code::UNHEALTHY;
        }
    };
    let check = async {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .load()
            .await;
        aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
    };
    match runtime.block_on(async { tokio::time::timeout(LIMIT, check).await }) {
        Ok(Ok(identity)) => {
            log::info!(
                "health check passed: {}",
                identity.arn().unwrap_or("unknown identity")
            );
            exit_code::HEALTHY
        }
        Ok(Err(error)) => {
            log::error!("health check failed: {}", aws_error::describe(&error));
            exit_code::UNHEALTHY
        }
        Err(_) => {
            log::error!(
                "health check failed: no answer from STS within {} s",
                LIMIT.as_secs()
            );
            exit_code::UNHEALTHY
        }
    }
}
