//! Chooses the certificate authorities aws-init trusts for HTTPS to AWS,
//! and builds the SDK's HTTP client with them.
//!
//! The SDK's default client trusts only the system's store, which a scratch
//! or distroless-static image does not have: there it found no root at all
//! and every request failed (a debug build panics). So aws-init builds
//! Mozilla's public roots in (webpki-root-certs) and, like the AWS CLI and
//! the other SDKs, lets `AWS_CA_BUNDLE` replace them; `SSL_CERT_FILE`, the
//! OpenSSL convention, does the same when `AWS_CA_BUNDLE` is not set.
//! The proxies the client goes through are checked in [`crate::proxy`].

use std::ffi::OsString;
use std::path::PathBuf;

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use thiserror::Error;

/// Why the trusted authorities could not be set up.
#[derive(Clone, Debug, Error)]
pub enum TrustError {
    #[error("cannot read {variable} ({path}): {reason}; point it at a PEM file of CA certificates")]
    Unreadable {
        variable: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "{variable} ({path}) holds no usable PEM certificate{detail}; point it at a PEM file of CA certificates"
    )]
    NoCertificate {
        variable: &'static str,
        path: String,
        detail: String,
    },
    #[error("cannot set up TLS: {0}")]
    Context(String),
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
}

/// Builds the HTTP client the SDK clients use: the SDK's default (rustls
/// with aws-lc, proxies from the environment as the latest behaviour
/// version has it, once [`crate::proxy::config`] has checked them),
/// trusting what [`trust_store`] chooses.
pub fn http_client(var: impl Fn(&str) -> Option<OsString>) -> Result<SharedHttpClient, TrustError> {
    let proxies = crate::proxy::config(&var)?;
    let context = TlsContext::builder()
        .with_trust_store(trust_store(var)?)
        .build()
        .map_err(|error| TrustError::Context(error.to_string()))?;
    // The connector function is the one way to reach the settings the SDK
    // passes per client (timeouts, sleep), as its own default client does.
    let client = Builder::new().build_with_connector_fn(move |settings, components| {
        // The SDK also calls this with neither, once for every client it
        // builds, only to load the system's roots early, and drops what it
        // gets. Every real connection passes both. Parsing the roots is
        // most of what resolving costs in CPU, so that call gets a
        // connector without TLS instead: one build instead of four.
        if settings.is_none() && components.is_none() {
            return ConnectorBuilder::default().build_http();
        }
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(proxies.clone()));
        connector.build()
    });
    Ok(client)
}

/// Chooses the roots: the file `AWS_CA_BUNDLE` names, else the file
/// `SSL_CERT_FILE` names, else the built-in public roots together with the
/// system's own, if it has any. A file that is named but cannot be used
/// fails: falling back to other roots would hide a misconfiguration.
fn trust_store(var: impl Fn(&str) -> Option<OsString>) -> Result<TrustStore, TrustError> {
    for variable in ["AWS_CA_BUNDLE", "SSL_CERT_FILE"] {
        if let Some(path) = var(variable).filter(|path| !path.is_empty()) {
            return bundle(variable, PathBuf::from(path));
        }
    }

    let mut store = TrustStore::empty();
    for root in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        store.add_pem_certificate(pem(root));
    }
    // A partly unreadable system store still gives what it could read; the
    // built-in roots are there either way.
    for root in rustls_native_certs::load_native_certs().certs {
        if usable(&root) {
            store.add_pem_certificate(pem(&root));
        }
    }
    Ok(store)
}

/// Reads the PEM bundle at `path`, which `variable` names, checking every
/// certificate in it: the SDK parses them again for each connection and
/// would panic on one that does not parse.
fn bundle(variable: &'static str, path: PathBuf) -> Result<TrustStore, TrustError> {
    let shown = path.display().to_string();
    let text = std::fs::read(&path).map_err(|error| TrustError::Unreadable {
        variable,
        path: shown.clone(),
        reason: error.to_string(),
    })?;
    let no_certificate = |detail: String| TrustError::NoCertificate {
        variable,
        path: shown.clone(),
        detail,
    };
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| no_certificate(format!(" (bad PEM: {error})")))?;
    if certificates.is_empty() {
        return Err(no_certificate(String::new()));
    }
    if let Some(position) = certificates.iter().position(|der| !usable(der)) {
        return Err(no_certificate(format!(
            " (certificate {} is not a valid X.509 CA certificate)",
            position + 1
        )));
    }

    let mut store = TrustStore::empty();
    for certificate in &certificates {
        store.add_pem_certificate(pem(certificate));
    }
    Ok(store)
}

/// Tells whether rustls accepts `der` as a trust anchor.
fn usable(der: &CertificateDer<'_>) -> bool {
    rustls::RootCertStore::empty().add(der.clone()).is_ok()
}

/// Encodes a DER certificate as PEM, the only form the SDK's trust store
/// takes.
fn pem(der: &CertificateDer<'_>) -> Vec<u8> {
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    // RFC 7468 lines hold 64 characters: 48 bytes each, encoded.
    for line in der.as_ref().chunks(48) {
        STANDARD.encode_string(line, &mut pem);
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_every_built_in_root_in_lines_of_64() {
        for root in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            let pem = pem(root);
            let text = std::str::from_utf8(&pem).unwrap();
            assert!(text.lines().all(|line| line.len() <= 64), "{text}");
            let decoded = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            assert_eq!(decoded, std::slice::from_ref(root));
        }
    }
}
