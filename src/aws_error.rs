//! Describes a failed AWS call in one line, quoting nothing of the response
//! but the service's error code and message.
//!
//! The SDK's `DisplayErrorContext` and `Debug` of an error carry the raw
//! HTTP response, body included, and for GetSecretValue or GetParameter
//! that body holds the secret. So only the AWS error code and message, or
//! the kind of failure, are ever shown, and the source chain is followed
//! only for failures that happen before any response exists. The message
//! is kept because it is what names the denied action (`kms:Decrypt` or
//! `ssm:GetParameters`), and AWS puts no secret value in one.

use std::error::Error;
use std::fmt;

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use crate::proxy;

/// What went wrong with one call.
pub struct Described {
    /// The AWS error code, when the service sent one.
    pub code: Option<String>,
    pub text: String,
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// Describes `error` by its AWS error code and message, or by the kind of
/// failure, without any other part of a response body.
pub fn describe<E>(error: &SdkError<E, HttpResponse>) -> Described
where
    E: ProvideErrorMetadata + Error + 'static,
{
    if let Some(code) = error.code() {
        return Described {
            code: Some(code.to_owned()),
            text: error.message().unwrap_or("no message").to_owned(),
        };
    }
    let text = match error {
        SdkError::ConstructionFailure(_) => {
            format!("the request could not be made: {}", causes(error))
        }
        SdkError::DispatchFailure(_) => match proxy::tunnel_failure(error) {
            Some(tunnel) => format!("the request could not be sent: {}", tunnel.describe()),
            None => format!("the request could not be sent: {}", causes(error)),
        },
        SdkError::TimeoutError(_) => "the request timed out".to_owned(),
        SdkError::ResponseError(_) => "the response could not be read".to_owned(),
        // A success status here means the body could not be parsed.
        SdkError::ServiceError(service) if service.raw().status().is_success() => {
            "the response could not be read".to_owned()
        }
        // A forward proxy asks for credentials on the request itself.
        SdkError::ServiceError(service) if service.raw().status().as_u16() == 407 => {
            match proxy::http_variable() {
                Some(variable) => format!(
                    "the proxy in {variable} answered 407 Proxy Authentication Required; \
                     give it credentials as http://USER:PASSWORD@HOST:PORT"
                ),
                None => "the service answered HTTP 407 Proxy Authentication Required".to_owned(),
            }
        }
        SdkError::ServiceError(service) => format!(
            "the service answered HTTP {} without an error code",
            service.raw().status().as_u16()
        ),
        _ => "the request failed".to_owned(),
    };
    Described { code: None, text }
}

/// Joins the `Display` of every cause below `error`.
fn causes(error: &dyn Error) -> String {
    let mut parts = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        parts.push(cause.to_string());
        next = cause.source();
    }
    if parts.is_empty() {
        "no details".to_owned()
    } else {
        parts.join(": ")
    }
}
