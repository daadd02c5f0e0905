//! Pins that aws-init works in an empty image: as PID 1 of a root that
//! holds only the static binary, a static program and what a container
//! runtime provides, it resolves secrets from the emulator and starts the
//! program, reaching AWS by address, by `localhost` once the root has
//! /etc/hosts, by a name looked up in DNS once it has /etc/resolv.conf, and
//! over HTTPS with the CA bundle the image brings.

mod common;

use common::dns::Dns;
use common::scratch::*;
use common::tls::{HttpsEndpoint, TestCa};
use common::*;

#[test]
fn the_static_build_and_the_test_program_need_no_dynamic_loader() {
    // Both assert it as they are built; this names the check on its own.
    static_aws_init();
    show_env_program();
}

#[test]
fn an_empty_root_resolves_a_secret_by_loopback_address_and_starts_the_command() {
    let name = unique("empty-root");
    emulator().put_secret(&name, "value-from-an-empty-root");
    let scratch = Scratch::new();
    assert_eq!(scratch.entries(), ["aws-init", "dev", "proc", "show-env"]);

    let mut command = scratch.aws_init(
        &emulator().endpoint,
        Lockdown::default(),
        &[
            "--log-level",
            "warn",
            SHOW_ENV,
            "TOKEN",
            "+ids",
            "+create:/tmp/probe",
        ],
    );
    command.env("TOKEN", format!("aws-secret:{name}"));
    let outcome = run(&mut command);

    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        "TOKEN=value-from-an-empty-root\n\
         ids=0:0\n\
         create /tmp/probe: No such file or directory\n"
    );
    assert_eq!(outcome.stderr, "");
}

#[test]
fn an_empty_root_with_etc_hosts_reaches_the_endpoint_by_localhost() {
    let name = unique("empty-root-localhost");
    emulator().put_parameter(&name, "value-by-localhost", "SecureString");
    let scratch = Scratch::new().with_hosts();
    let endpoint = emulator().endpoint.replace("127.0.0.1", "localhost");
    assert_ne!(endpoint, emulator().endpoint);

    let mut command = scratch.aws_init(
        &endpoint,
        Lockdown::default(),
        &["--log-level", "warn", SHOW_ENV, "TOKEN"],
    );
    command.env("TOKEN", format!("aws-ssm:{name}"));
    let outcome = run(&mut command);

    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stdout, "TOKEN=value-by-localhost\n");
    assert_eq!(outcome.stderr, "");
}

#[test]
fn an_empty_root_reaches_an_https_endpoint_with_the_ca_bundle_it_brings() {
    let ca = TestCa::new();
    let https = HttpsEndpoint::new(&ca);
    let name = unique("empty-root-tls");
    emulator().put_secret(&name, "value-over-tls-in-an-empty-root");
    let bundle = std::fs::read(ca.bundle()).unwrap();
    let scratch = Scratch::new().with_file("ca.pem", &bundle);

    let args = ["--log-level", "warn", SHOW_ENV, "TOKEN"];
    let mut command = scratch.aws_init(&https.endpoint, Lockdown::default(), &args);
    command
        .env("TOKEN", format!("aws-secret:{name}"))
        .env("AWS_CA_BUNDLE", "/ca.pem");
    let outcome = run(&mut command);

    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stdout, "TOKEN=value-over-tls-in-an-empty-root\n");
    assert_eq!(outcome.stderr, "");
}

#[test]
fn an_empty_root_with_resolv_conf_looks_the_endpoint_up_in_dns() {
    let name = unique("empty-root-dns");
    emulator().put_secret(&name, "value-by-dns");
    let dns = Dns::start("emulator.aws-init.test");
    let scratch = Scratch::new().with_file("etc/resolv.conf", dns.resolv_conf().as_bytes());
    let endpoint = emulator()
        .endpoint
        .replace("127.0.0.1", "emulator.aws-init.test");

    let mut command = scratch.aws_init(
        &endpoint,
        Lockdown::default(),
        &["--log-level", "warn", SHOW_ENV, "TOKEN"],
    );
    command.env("TOKEN", format!("aws-secret:{name}"));
    let outcome = run(&mut command);

    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stdout, "TOKEN=value-by-dns\n");
    assert_eq!(outcome.stderr, "");
    let queries = dns.queries();
    assert!(
        queries.contains(&("emulator.aws-init.test".to_owned(), 1)),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .all(|(asked, _)| asked == "emulator.aws-init.test"),
        "{queries:?}"
    );
}

#[test]
fn an_empty_root_fails_closed_on_a_name_dns_does_not_know() {
    let dns = Dns::start("emulator.aws-init.test");
    let scratch = Scratch::new().with_file("etc/resolv.conf", dns.resolv_conf().as_bytes());
    let endpoint = emulator()
        .endpoint
        .replace("127.0.0.1", "unknown.aws-init.test");

    let mut command = scratch.aws_init(
        &endpoint,
        Lockdown::default(),
        &["--timeout", "2", SHOW_ENV, "TOKEN"],
    );
    command.env("TOKEN", "aws-secret:any");
    let outcome = run(&mut command);

    // A name that does not exist yet may be a DNS server still starting
    // up, so the lookup is retried like a refused connection, until
    // --timeout.
    assert_eq!(outcome.code(), 125, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "aws-init: error: TOKEN: cannot resolve aws-secret:any: no answer within 2000 ms \
         (--timeout); still retrying after request failed: the request could not be sent: io \
         error: client error (Connect): dns error: failed to lookup address information: Name or \
         service not known\n\
         aws-init: error: 1 reference(s) failed to resolve; the command was not started\n"
    );
    assert!(
        dns.queries()
            .contains(&("unknown.aws-init.test".to_owned(), 1)),
        "{:?}",
        dns.queries()
    );
}
