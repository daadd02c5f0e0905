//! Pins that aws-init works in an empty image: as PID 1 of a root that
//! holds only the static binary, a static program and what a container
//! runtime provides, it resolves secrets from the emulator and starts the
//! program, reaching AWS by address and, once the root has /etc/hosts, by
//! `localhost`, and over HTTPS with the CA bundle the image brings.

mod common;

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
