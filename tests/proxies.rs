//! Pins how aws-init goes through a forward proxy: `HTTP_PROXY` for
//! plain-HTTP endpoints, `HTTPS_PROXY` (with CONNECT) for HTTPS ones,
//! `ALL_PROXY` for both, each also in lower case, and `NO_PROXY` to bypass
//! them; credentials in the proxy URL are sent and never shown; and a
//! proxy that is refused, unreachable or not a usable URL fails closed,
//! never going straight to the endpoint instead.
//!
//! Every endpoint here would also answer without the proxy, so a run that
//! went around it would pass where it must fail, and the proxy's record of
//! requests tells which way each went.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::checks::ERROR;
use common::connect_proxy::{ConnectProxy, Kind, Seen};
use common::tls::{HttpsEndpoint, TestCa};
use common::*;

/// The last line of every run here that fails closed.
const NOT_STARTED: &str =
    "aws-init: error: 1 reference(s) failed to resolve; the command was not started\n";

/// The proxy password of these tests, which must never be shown.
const PASSWORD: &str = "hunter2-proxy";

/// An HTTPS endpoint in front of the emulator, and the CA that signed its
/// certificate.
struct Https {
    ca: TestCa,
    endpoint: HttpsEndpoint,
    /// The CA's certificate file, for `AWS_CA_BUNDLE`.
    bundle: String,
}

impl Https {
    fn new() -> Https {
        let ca = TestCa::new();
        let endpoint = HttpsEndpoint::new(&ca);
        let bundle = ca.bundle().to_str().unwrap().to_owned();
        Https {
            ca,
            endpoint,
            bundle,
        }
    }

    /// `vars`, and the variable that makes aws-init trust the test CA.
    fn trusting<'a>(&'a self, vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = vec![("AWS_CA_BUNDLE", self.bundle.as_str())];
        all.extend_from_slice(vars);
        all
    }
}

/// The `host:port` a proxy is asked for to reach `endpoint`.
fn target(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").unwrap().1;
    rest.trim_end_matches('/').to_owned()
}

/// Resolves a fresh secret through `endpoint` with `vars` added to the
/// harness's environment and `args` before the command, and returns the
/// run and the reference.
fn resolve_at(endpoint: &str, vars: &[(&str, &str)], args: &[&str]) -> (Outcome, String) {
    let name = unique("proxied");
    emulator().put_secret(&name, "value-via-proxy");
    let reference = format!("aws-secret:{name}");
    let mut command = aws_init_at(endpoint);
    envs(&mut command, vars).env("TOKEN", &reference);
    (
        run(command.args(args).args(["printenv", "TOKEN"])),
        reference,
    )
}

/// The whole stderr of a run with `--timeout 2s` whose request was still
/// being retried when time ran out, after a send that failed with `why`.
fn unsent_at_the_deadline(reference: &str, why: &str) -> String {
    format!(
        "{ERROR}TOKEN: cannot resolve {reference}: no answer within 2000 ms (--timeout); still \
         retrying after request failed: the request could not be sent: {why}\n{NOT_STARTED}"
    )
}

/// [`resolve_at`] with only warnings and errors, so that the output can be
/// compared whole.
fn resolve_quietly(endpoint: &str, vars: &[(&str, &str)]) -> (Outcome, String) {
    resolve_at(endpoint, vars, &["--log-level", "warn"])
}

/// Checks that the run resolved and printed nothing of its own.
fn assert_resolved(outcome: &Outcome, what: &str) {
    assert_eq!(outcome.code(), 0, "{what}: {outcome:?}");
    assert_eq!(outcome.stdout, "value-via-proxy\n", "{what}");
    assert_eq!(outcome.stderr, "", "{what}");
}

/// One request of `kind` for `endpoint`, with `authorization` if any.
fn seen(kind: Kind, endpoint: &str, authorization: Option<&str>) -> Seen {
    Seen {
        kind,
        target: target(endpoint),
        authorization: authorization.map(str::to_owned),
    }
}

/// `http://USER:PASSWORD@127.0.0.1:PORT` for `proxy`.
fn with_credentials(proxy: &ConnectProxy, userinfo: &str) -> String {
    proxy
        .url
        .replacen("http://", &format!("http://{userinfo}@"), 1)
}

/// Panics if the proxy password shows up in any output of `outcome`.
fn assert_password_hidden(outcome: &Outcome) {
    for (name, text) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        assert!(
            !text.contains("hunter2"),
            "{name} shows the password:\n{text}"
        );
    }
}

#[test]
fn http_proxy_forwards_plain_http_requests_in_absolute_form() {
    let proxy = ConnectProxy::open();
    let endpoint = &emulator().endpoint;
    let (outcome, _) = resolve_quietly(endpoint, &[("HTTP_PROXY", &proxy.url)]);
    assert_resolved(&outcome, "HTTP_PROXY");
    assert_eq!(proxy.seen(), [seen(Kind::Forward, endpoint, None)]);
}

#[test]
fn https_proxy_tunnels_https_requests_with_connect() {
    let proxy = ConnectProxy::open();
    let https = Https::new();
    let vars = https.trusting(&[("HTTPS_PROXY", &proxy.url)]);
    let (outcome, _) = resolve_quietly(&https.endpoint.endpoint, &vars);
    assert_resolved(&outcome, "HTTPS_PROXY");
    assert_eq!(
        proxy.seen(),
        [seen(Kind::Connect, &https.endpoint.endpoint, None)]
    );
}

#[test]
fn lower_case_and_all_proxy_variables_are_honoured_too() {
    let https = Https::new();
    let plain = &emulator().endpoint;
    let secure = &https.endpoint.endpoint;
    for (variable, endpoint, kind) in [
        ("http_proxy", plain, Kind::Forward),
        ("https_proxy", secure, Kind::Connect),
        ("ALL_PROXY", plain, Kind::Forward),
        ("ALL_PROXY", secure, Kind::Connect),
        ("all_proxy", secure, Kind::Connect),
    ] {
        let proxy = ConnectProxy::open();
        let vars = https.trusting(&[(variable, &proxy.url)]);
        let (outcome, _) = resolve_quietly(endpoint, &vars);
        assert_resolved(&outcome, variable);
        assert_eq!(proxy.seen(), [seen(kind, endpoint, None)], "{variable}");
    }
}

#[test]
fn each_proxy_variable_serves_only_its_own_scheme() {
    let https = Https::new();
    for (variable, endpoint) in [
        ("HTTPS_PROXY", &emulator().endpoint),
        ("HTTP_PROXY", &https.endpoint.endpoint),
    ] {
        let proxy = ConnectProxy::open();
        let vars = https.trusting(&[(variable, &proxy.url)]);
        let (outcome, _) = resolve_quietly(endpoint, &vars);
        assert_resolved(&outcome, variable);
        assert_eq!(proxy.seen(), [], "{variable} for {endpoint}");
    }
}

#[test]
fn a_proxy_reached_over_tls_carries_both_kinds() {
    let https = Https::new();
    let proxy = ConnectProxy::open();
    let tls_proxy = HttpsEndpoint::in_front_of(&https.ca, &target(&proxy.url));
    let plain = &emulator().endpoint;
    let secure = &https.endpoint.endpoint;
    for (endpoint, kind) in [(plain, Kind::Forward), (secure, Kind::Connect)] {
        let vars = https.trusting(&[("ALL_PROXY", &tls_proxy.endpoint)]);
        let (outcome, _) = resolve_quietly(endpoint, &vars);
        assert_resolved(&outcome, endpoint);
        assert_eq!(proxy.count(kind, &target(endpoint)), 1, "{endpoint}");
    }
}

#[test]
fn no_proxy_naming_the_endpoint_bypasses_the_proxy() {
    let https = Https::new();
    for endpoint in [&emulator().endpoint, &https.endpoint.endpoint] {
        for (variable, rules) in [
            ("NO_PROXY", "127.0.0.1"),
            ("NO_PROXY", "example.com, 127.0.0.0/8"),
            ("NO_PROXY", "*"),
            ("no_proxy", "127.0.0.1"),
        ] {
            let proxy = ConnectProxy::open();
            let vars = https.trusting(&[("ALL_PROXY", &proxy.url), (variable, rules)]);
            let (outcome, _) = resolve_quietly(endpoint, &vars);
            assert_resolved(&outcome, rules);
            assert_eq!(proxy.seen(), [], "{variable}={rules} for {endpoint}");
        }
    }
}

#[test]
fn no_proxy_entries_with_a_port_or_a_name_do_not_match_an_address() {
    let endpoint = &emulator().endpoint;
    let with_port = target(endpoint);
    for rules in [with_port.as_str(), "localhost", ".0.0.1"] {
        let proxy = ConnectProxy::open();
        let vars = [("HTTP_PROXY", proxy.url.as_str()), ("NO_PROXY", rules)];
        let (outcome, _) = resolve_quietly(endpoint, &vars);
        assert_resolved(&outcome, rules);
        assert_eq!(
            proxy.seen(),
            [seen(Kind::Forward, endpoint, None)],
            "{rules}"
        );
    }
}

#[test]
fn credentials_in_the_proxy_url_are_sent_and_never_shown() {
    // `%40` is how a URL carries an `@` in a password.
    let proxy = ConnectProxy::requiring(&format!("aws-init:{PASSWORD}@1"));
    let url = with_credentials(&proxy, &format!("aws-init:{PASSWORD}%401"));
    let header = format!(
        "Basic {}",
        STANDARD.encode(format!("aws-init:{PASSWORD}@1"))
    );
    let https = Https::new();
    let vars = https.trusting(&[("ALL_PROXY", &url)]);
    let plain = &emulator().endpoint;
    let secure = &https.endpoint.endpoint;
    for (endpoint, kind) in [(plain, Kind::Forward), (secure, Kind::Connect)] {
        let (outcome, reference) = resolve_at(endpoint, &vars, &["--log-level", "debug"]);
        assert_eq!(outcome.code(), 0, "{outcome:?}");
        assert_eq!(outcome.stdout, "value-via-proxy\n");
        assert!(
            outcome.stderr.contains(&format!(
                "aws-init: debug: resolved TOKEN from {reference}\n"
            )),
            "{}",
            outcome.stderr
        );
        assert_password_hidden(&outcome);
        assert_eq!(
            proxy.seen().last(),
            Some(&seen(kind, endpoint, Some(&header)))
        );
    }
    assert_eq!(proxy.seen().len(), 2);
}

#[test]
fn proxy_credentials_refused_on_connect_fail_closed_at_once() {
    let proxy = ConnectProxy::requiring("aws-init:another-password");
    let url = with_credentials(&proxy, &format!("aws-init:{PASSWORD}"));
    let https = Https::new();
    let vars = https.trusting(&[("HTTPS_PROXY", &url)]);
    let endpoint = &https.endpoint.endpoint;
    let (outcome, reference) = resolve_quietly(endpoint, &vars);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: request failed: the request could not \
             be sent: the proxy in HTTPS_PROXY refused the tunnel with 407 Proxy Authentication \
             Required; give it credentials as http://USER:PASSWORD@HOST:PORT\n{NOT_STARTED}"
        )
    );
    // Sent once: credentials refused are refused again.
    assert_eq!(proxy.count(Kind::Connect, &target(endpoint)), 1);

    let (outcome, _) = resolve_at(endpoint, &vars, &["--log-level", "debug"]);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_password_hidden(&outcome);

    let (outcome, reference) = resolve_at(endpoint, &vars, &["--check"]);
    let name = reference.strip_prefix("aws-secret:").unwrap();
    assert_eq!(outcome.code(), 1, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        format!(
            "TOKEN: Secrets Manager, us-east-1, {name}, stage AWSCURRENT: failed: request \
             failed: the request could not be sent: the proxy in HTTPS_PROXY refused the tunnel \
             with 407 Proxy Authentication Required; give it credentials as \
             http://USER:PASSWORD@HOST:PORT\n"
        )
    );
    assert_password_hidden(&outcome);
}

#[test]
fn proxy_credentials_refused_on_a_plain_http_request_fail_closed() {
    let proxy = ConnectProxy::requiring("aws-init:another-password");
    let url = with_credentials(&proxy, &format!("aws-init:{PASSWORD}"));
    let endpoint = &emulator().endpoint;
    let (outcome, reference) = resolve_quietly(endpoint, &[("HTTP_PROXY", &url)]);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: request failed: the proxy in HTTP_PROXY \
             answered 407 Proxy Authentication Required; give it credentials as \
             http://USER:PASSWORD@HOST:PORT\n{NOT_STARTED}"
        )
    );
    assert_eq!(proxy.count(Kind::Forward, &target(endpoint)), 1);

    let (outcome, _) = resolve_at(endpoint, &[("HTTP_PROXY", &url)], &["--log-level", "debug"]);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_password_hidden(&outcome);
}

#[test]
fn a_proxy_that_refuses_the_tunnel_fails_closed_when_time_runs_out() {
    // Retried: the status of a refused tunnel is not known, and a 502 or
    // 503 would pass.
    let proxy = ConnectProxy::refusing(403);
    let https = Https::new();
    let vars = https.trusting(&[("HTTPS_PROXY", &proxy.url)]);
    let endpoint = &https.endpoint.endpoint;
    let args = ["--log-level", "warn", "--timeout", "2s"];
    let (outcome, reference) = resolve_at(endpoint, &vars, &args);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        unsent_at_the_deadline(
            &reference,
            "the proxy in HTTPS_PROXY refused the tunnel (CONNECT) to the endpoint"
        )
    );
    assert!(proxy.count(Kind::Connect, &target(endpoint)) >= 1);
}

#[test]
fn a_proxy_that_refuses_a_plain_http_request_fails_closed() {
    let proxy = ConnectProxy::refusing(403);
    let endpoint = &emulator().endpoint;
    let (outcome, reference) = resolve_quietly(endpoint, &[("HTTP_PROXY", &proxy.url)]);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: request failed: the service answered \
             HTTP 403 without an error code\n{NOT_STARTED}"
        )
    );
    assert_eq!(proxy.seen(), [seen(Kind::Forward, endpoint, None)]);
}

#[test]
fn an_unreachable_proxy_fails_closed_and_never_goes_direct() {
    let https = Https::new();
    let nowhere = NOWHERE.replacen("http://", &format!("http://aws-init:{PASSWORD}@"), 1);
    let cases = [
        (
            "HTTPS_PROXY",
            &https.endpoint.endpoint,
            "cannot connect to the proxy in HTTPS_PROXY: tcp connect error: Connection refused \
             (os error 111)",
        ),
        (
            "HTTP_PROXY",
            &emulator().endpoint,
            "io error: client error (Connect): tcp connect error: Connection refused (os error \
             111)",
        ),
    ];
    for (variable, endpoint, why) in cases {
        let vars = https.trusting(&[(variable, &nowhere)]);
        let args = ["--log-level", "warn", "--timeout", "2s"];
        let (outcome, reference) = resolve_at(endpoint, &vars, &args);
        assert_eq!(outcome.code(), 125, "{outcome:?}");
        assert_eq!(outcome.stdout, "");
        assert_eq!(
            outcome.stderr,
            unsent_at_the_deadline(&reference, why),
            "{variable}"
        );

        let args = ["--log-level", "debug", "--timeout", "1s"];
        let (outcome, _) = resolve_at(endpoint, &vars, &args);
        assert_eq!(outcome.code(), 125, "{outcome:?}");
        assert_password_hidden(&outcome);
    }
}

#[test]
fn a_proxy_url_the_sdk_would_skip_fails_closed_naming_the_variable() {
    let endpoint = &emulator().endpoint;
    for (variable, value, reason) in [
        (
            "HTTP_PROXY",
            format!("http://aws-init:{PASSWORD}@proxy host:3128"),
            "not a valid URL",
        ),
        (
            "http_proxy",
            "ftp://127.0.0.1:9".to_owned(),
            "the scheme is not http:// or https://",
        ),
        (
            "ALL_PROXY",
            "socks5://127.0.0.1:9".to_owned(),
            "SOCKS is not supported",
        ),
        // Checked even where it would not be used: a mistake is a mistake.
        ("HTTPS_PROXY", "/var/run/proxy.sock".to_owned(), "no host"),
    ] {
        let (outcome, reference) = resolve_quietly(endpoint, &[(variable, &value)]);
        assert_eq!(outcome.code(), 125, "{outcome:?}");
        assert_eq!(outcome.stdout, "");
        assert_eq!(
            outcome.stderr,
            format!(
                "{ERROR}TOKEN: cannot resolve {reference}: {variable} is not a proxy URL the SDK \
                 can use ({reason}); set it to http://HOST:PORT or \
                 http://USER:PASSWORD@HOST:PORT\n{NOT_STARTED}"
            )
        );
        assert_password_hidden(&outcome);
    }
}

#[test]
fn upper_and_lower_case_variables_that_disagree_fail_closed() {
    let proxy = ConnectProxy::open();
    let endpoint = &emulator().endpoint;
    for (upper, lower, values) in [
        ("HTTP_PROXY", "http_proxy", ["", proxy.url.as_str()]),
        ("NO_PROXY", "no_proxy", ["127.0.0.1", "localhost"]),
    ] {
        let vars = [
            ("HTTP_PROXY", proxy.url.as_str()),
            (upper, values[0]),
            (lower, values[1]),
        ];
        let (outcome, reference) = resolve_quietly(endpoint, &vars);
        assert_eq!(outcome.code(), 125, "{outcome:?}");
        assert_eq!(
            outcome.stderr,
            format!(
                "{ERROR}TOKEN: cannot resolve {reference}: {upper} and {lower} are both set, to \
                 different values; set one of them (the other SDKs do not agree on which \
                 wins)\n{NOT_STARTED}"
            )
        );
    }
    assert_eq!(proxy.seen(), []);
}

#[test]
fn a_proxy_with_request_method_set_fails_closed() {
    let proxy = ConnectProxy::open();
    let endpoint = &emulator().endpoint;
    let vars = [
        ("HTTP_PROXY", proxy.url.as_str()),
        ("REQUEST_METHOD", "GET"),
    ];
    let (outcome, reference) = resolve_quietly(endpoint, &vars);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: HTTP_PROXY names a proxy, but \
             REQUEST_METHOD is set, which makes the SDK ignore every proxy variable (a CGI \
             safeguard); unset REQUEST_METHOD\n{NOT_STARTED}"
        )
    );
    assert_eq!(proxy.seen(), []);
}

#[test]
fn a_run_without_references_starts_whatever_the_proxy_variables_hold() {
    let mut command = aws_init_at(NOWHERE);
    command
        .env("HTTPS_PROXY", "not a url")
        .args(["--log-level", "warn", "true"]);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stderr, "");
}

#[test]
fn the_health_check_goes_through_the_proxy_too() {
    let proxy = ConnectProxy::open();
    let endpoint = &emulator().endpoint;
    let mut command = aws_init_at(endpoint);
    command
        .env("HTTP_PROXY", &proxy.url)
        .args(["--log-level", "warn", "--health-check"]);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stderr, "");
    assert_eq!(proxy.seen(), [seen(Kind::Forward, endpoint, None)]);
}

#[test]
fn a_proxy_variable_that_is_not_utf8_fails_closed() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let name = unique("proxied");
    emulator().put_secret(&name, "value-via-proxy");
    let reference = format!("aws-secret:{name}");
    let mut command = emulator().aws_init();
    command
        .env("https_proxy", OsStr::from_bytes(b"http://proxy\xff:3128"))
        .env("TOKEN", &reference)
        .args(["--log-level", "warn", "printenv", "TOKEN"]);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}TOKEN: cannot resolve {reference}: https_proxy is not valid UTF-8; set it to \
             a proxy URL such as http://HOST:PORT\n{NOT_STARTED}"
        )
    );
}

#[test]
fn the_test_proxy_refuses_every_target_off_loopback() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    let proxy = ConnectProxy::open();
    for request in [
        "CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n",
        "GET http://localhost:80/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(target(&proxy.url)).unwrap();
        stream.set_read_timeout(Some(GUARD)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 403 "),
            "{request:?}: {answer:?}"
        );
    }
    assert_eq!(proxy.seen().len(), 2);
}
