//! Pins which certificate authorities aws-init trusts over HTTPS: the file
//! `AWS_CA_BUNDLE` names, else the file `SSL_CERT_FILE` names, else the
//! built-in public roots; a CA outside them fails closed, and so does a
//! named file that cannot be used.

mod common;

use common::checks::ERROR;
use common::tls::{HttpsEndpoint, TestCa};
use common::*;

/// The last line of every run here that fails closed.
const NOT_STARTED: &str =
    "aws-init: error: 1 reference(s) failed to resolve; the command was not started\n";

/// Resolves a fresh secret through `https` with `vars` added to the
/// harness's environment, and returns the run and the reference.
fn resolve_through(https: &HttpsEndpoint, vars: &[(&str, &str)]) -> (Outcome, String) {
    let name = unique("tls");
    emulator().put_secret(&name, "value-over-tls");
    let reference = format!("aws-secret:{name}");
    let mut command = aws_init_at(&https.endpoint);
    envs(&mut command, vars).env("TOKEN", &reference);
    // Only warnings and errors, so that the output can be compared whole.
    let args = ["--log-level", "warn", "printenv", "TOKEN"];
    (run(command.args(args)), reference)
}

/// Resolves through an endpoint of a test CA that `variable` names, and
/// checks the value arrives.
fn assert_trusts_the_ca_named_by(variable: &str) {
    let ca = TestCa::new();
    let https = HttpsEndpoint::new(&ca);
    let bundle = ca.bundle();
    let (outcome, _) = resolve_through(&https, &[(variable, bundle.to_str().unwrap())]);
    assert_eq!(outcome.code(), 0, "{variable}: {outcome:?}");
    assert_eq!(outcome.stdout, "value-over-tls\n", "{variable}");
    assert_eq!(outcome.stderr, "", "{variable}");
}

#[test]
fn aws_ca_bundle_names_the_ca_that_is_trusted() {
    assert_trusts_the_ca_named_by("AWS_CA_BUNDLE");
}

#[test]
fn ssl_cert_file_names_the_ca_that_is_trusted() {
    assert_trusts_the_ca_named_by("SSL_CERT_FILE");
}

#[test]
fn aws_ca_bundle_wins_over_ssl_cert_file() {
    let ca = TestCa::new();
    let https = HttpsEndpoint::new(&ca);
    let bundle = ca.bundle();
    let (outcome, _) = resolve_through(
        &https,
        &[
            ("AWS_CA_BUNDLE", bundle.to_str().unwrap()),
            ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
        ],
    );
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stdout, "value-over-tls\n");
}

#[test]
fn a_ca_outside_the_built_in_roots_fails_closed_at_once() {
    let ca = TestCa::new();
    let https = HttpsEndpoint::new(&ca);
    let (outcome, reference) = resolve_through(&https, &[]);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: request failed: the request could \
             not be sent: io error: client error (Connect): TLS handshake failed: invalid \
             peer certificate: UnknownIssuer\n{NOT_STARTED}"
        )
    );
}

#[test]
fn an_unreadable_aws_ca_bundle_fails_closed() {
    let ca = TestCa::new();
    let https = HttpsEndpoint::new(&ca);
    let (outcome, reference) = resolve_through(&https, &[("AWS_CA_BUNDLE", "/nonexistent/ca.pem")]);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: cannot read AWS_CA_BUNDLE (/nonexistent/ca.pem): \
             No such file or directory (os error 2); point it at a PEM file of CA certificates\n{NOT_STARTED}"
        )
    );
}

#[test]
fn an_ssl_cert_file_without_a_certificate_fails_closed() {
    let ca = TestCa::new();
    let https = HttpsEndpoint::new(&ca);
    let empty = ca.file("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let path = empty.to_str().unwrap();
    let (outcome, reference) = resolve_through(&https, &[("SSL_CERT_FILE", path)]);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: SSL_CERT_FILE ({path}) holds no usable PEM \
             certificate; point it at a PEM file of CA certificates\n{NOT_STARTED}"
        )
    );
}
