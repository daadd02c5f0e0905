//! End-to-end tests of what aws-init leaves alone: values that are not
//! references, the switches that keep values literal, and an ARN that
//! needs no region.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::checks::*;
use common::*;

// Passing values through.

#[test]
fn values_that_are_not_references_pass_through_byte_for_byte() {
    let name = unique("pass");
    emulator().put_secret(&name, "pass-through-resolved");
    let reference = format!("aws-secret:{name}");
    let not_utf8 = OsStr::from_bytes(b"caf\xe9 \xff\xfe aws-secret:x");
    let plain: Vec<(&str, String)> = vec![
        ("PLAIN", "hello world".to_owned()),
        ("EMPTY", String::new()),
        ("MULTILINE", "line one\nline two\n".to_owned()),
        (
            "AWS_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/app-role"),
        ),
        ("QUEUE", format!("arn:aws:sqs:{REGION}:{ACCOUNT}:jobs")),
        (
            "DOCUMENT",
            format!("arn:aws:ssm:{REGION}:{ACCOUNT}:document/setup"),
        ),
        ("MIDDLE", format!("see {reference} for the token")),
        ("URL", format!("postgres://u:{reference}@db/app")),
    ];

    let mut command = emulator().aws_init();
    for (key, value) in &plain {
        command.env(key, value);
    }
    command
        .env("NOT_UTF8", not_utf8)
        .env(OsStr::from_bytes(b"NAME_\xff"), "odd-name")
        .env("TOKEN", &reference)
        .args(["--log-level", "debug"]);
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(
        &outcome.stderr,
        &[
            "pass-through-resolved",
            "hello world",
            "line one",
            "odd-name",
        ],
    );

    for (key, value) in &plain {
        assert_eq!(
            seen.get(key.as_bytes()).map(Vec::as_slice),
            Some(value.as_bytes()),
            "{key}"
        );
    }
    assert_eq!(
        seen.get(b"NOT_UTF8".as_slice()).map(Vec::as_slice),
        Some(not_utf8.as_bytes())
    );
    assert_eq!(
        seen.get(b"NAME_\xff".as_slice()).map(Vec::as_slice),
        Some(b"odd-name".as_slice())
    );
    assert_eq!(
        seen.get(b"TOKEN".as_slice()).map(Vec::as_slice),
        Some(b"pass-through-resolved".as_slice())
    );
}

#[test]
fn an_environment_without_references_starts_without_reaching_aws() {
    let outcome = run(aws_init_at(NOWHERE)
        .env("PLAIN", "no-references-here")
        .env("AWS_ROLE_ARN", format!("arn:aws:iam::{ACCOUNT}:role/app"))
        .args(["sh", "-c", "printf '%s' \"$PLAIN\""]));
    assert_eq!(outcome.stdout, "no-references-here");
    assert_eq!(outcome.stderr, "");
    assert_eq!(outcome.code(), 0);
}

// Switches that keep values literal.

/// Stores a secret and a parameter, and returns their bare ARNs and an
/// `aws-secret:` reference to the secret.
fn bare_arns_and_reference() -> (String, String, String) {
    let secret = unique("switch");
    let arn = emulator().put_secret(&secret, "switch-resolved-value");
    let parameter = format!("/resolve/{}", unique("switch"));
    emulator().put_parameter(&parameter, "switch-param-value", "String");
    (
        arn,
        parameter_arn(REGION, &parameter),
        format!("aws-secret:{secret}"),
    )
}

#[test]
fn bare_arns_switched_off_by_flag_or_variable_stay_untouched() {
    let (secret_arn, parameter_arn, reference) = bare_arns_and_reference();
    for switch in ["--no-bare-arns", "AWS_INIT_BARE_ARNS=0"] {
        let mut command = with_env(&[
            ("BARE_SECRET", &secret_arn),
            ("BARE_PARAMETER", &parameter_arn),
            ("REFERENCE", &reference),
        ]);
        match switch.split_once('=') {
            Some((name, value)) => command.env(name, value),
            None => command.arg(switch),
        };
        let outcome = run(command.args(["--log-level", "debug", "printenv"]).args([
            "BARE_SECRET",
            "BARE_PARAMETER",
            "REFERENCE",
        ]));
        assert_eq!(
            outcome.stdout,
            format!("{secret_arn}\n{parameter_arn}\nswitch-resolved-value\n"),
            "{switch}: {}",
            outcome.stderr
        );
        assert_eq!(outcome.code(), 0, "{switch}: {}", outcome.stderr);
        assert_no_secret(&outcome.stderr, &["switch-resolved-value"]);
    }
}

#[test]
fn literal_flag_keeps_a_reference_literal() {
    let (secret_arn, _, reference) = bare_arns_and_reference();
    let outcome = run(with_env(&[
        ("KEEP", &reference),
        ("KEEP_ARN", &secret_arn),
        ("BROKEN", "aws-secret:"),
        ("RESOLVE", &reference),
    ])
    .args([
        "--literal",
        "KEEP",
        "--literal=KEEP_ARN",
        "--literal",
        "BROKEN",
    ])
    .args(["--log-level", "debug", "printenv"])
    .args(["KEEP", "KEEP_ARN", "BROKEN", "RESOLVE"]));
    assert_eq!(
        outcome.stdout,
        format!("{reference}\n{secret_arn}\naws-secret:\nswitch-resolved-value\n"),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, &["switch-resolved-value"]);
}

#[test]
fn aws_init_literal_keeps_listed_references_literal() {
    let (_, parameter_arn, reference) = bare_arns_and_reference();
    let outcome = run(with_env(&[
        ("AWS_INIT_LITERAL", "A,B"),
        ("A", &reference),
        ("B", &parameter_arn),
        ("C", &reference),
    ])
    .args(["--log-level", "debug", "printenv", "A", "B", "C"]));
    assert_eq!(
        outcome.stdout,
        format!("{reference}\n{parameter_arn}\nswitch-resolved-value\n"),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, &["switch-resolved-value"]);
}

// The region.

#[test]
fn an_arn_resolves_without_a_region() {
    let arn = emulator().put_secret(&unique("no-region-arn"), "arn-without-region-value");
    let parameter = format!("/resolve/{}", unique("no-region-arn"));
    emulator().put_parameter(&parameter, "param-arn-without-region", "String");
    let outcome = run(with_env(&[
        ("SECRET", &format!("aws-secret:{arn}")),
        ("PARAMETER", &parameter_arn(REGION, &parameter)),
    ])
    .env_remove("AWS_REGION")
    .args(["printenv", "SECRET", "PARAMETER"]));
    assert_eq!(
        outcome.stdout, "arn-without-region-value\nparam-arn-without-region\n",
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
}
