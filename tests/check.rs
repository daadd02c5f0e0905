//! End-to-end tests of `--check`: one line per reference on stdout, never a
//! value, exit 0 only when all resolve, and no command started; with
//! `--offline`, no AWS call at all.

mod common;

use common::checks::*;
use common::mock::Mock;
use common::temp::TempDir;
use common::*;

#[test]
fn check_resolves_everything_and_starts_nothing() {
    let emulator = emulator();
    let name = unique("check");
    emulator.put_secret(&name, r#"{"password":"check-canary-1"}"#);
    let parameter = format!("/{}", unique("check"));
    emulator.put_parameter(&parameter, "check-canary-2", "SecureString");
    let absent = unique("check-absent");
    let scratch = TempDir::new("check");
    let marker = scratch.path().join("started");
    let outcome = run(with_env(&[
        (
            "DB_PASSWORD",
            &format!("aws-secret:{name}?version-stage=AWSCURRENT#password"),
        ),
        ("TOKEN", &format!("aws-ssm:{parameter}")),
        ("FIRST", &format!("aws-ssm:{parameter}:1")),
        ("FLAG", &format!("aws-ssm:/{absent}?optional")),
        ("PLAIN", "not a reference"),
    ])
    .arg("--check")
    .arg("touch")
    .arg(&marker));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "DB_PASSWORD: Secrets Manager, {REGION}, {name}, stage AWSCURRENT, key password: ok\n\
             FIRST: Parameter Store, {REGION}, {parameter}, version 1: ok\n\
             FLAG: Parameter Store, {REGION}, /{absent}, latest version: does not exist; left \
             unset (optional)\n\
             TOKEN: Parameter Store, {REGION}, {parameter}, latest version: ok\n"
        )
    );
    assert_eq!(
        outcome.stderr,
        "aws-init: all 4 reference(s) passed the check\n"
    );
    assert!(!marker.exists(), "the command started");
    assert_no_secret(&outcome.stdout, &["check-canary"]);
}

#[test]
fn check_fails_when_one_reference_does_not_resolve() {
    let name = unique("check-present");
    emulator().put_secret(&name, "check-canary-3");
    let absent = unique("check-absent");
    let arn = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{absent}-AbCdEf");
    let outcome = run(with_env(&[
        ("PRESENT", &format!("aws-secret:{name}")),
        ("MISSING", &format!("{arn}:password::")),
        ("MISSPELT", "aws-secrets:app/db"),
    ])
    .args(["--check", "--log-level", "debug"]));
    assert_eq!(outcome.code(), 1, "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", outcome.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "MISSING: Secrets Manager, eu-west-1, {arn}, stage AWSCURRENT, key password: failed: \
             ResourceNotFoundException: "
        )),
        "{}",
        outcome.stdout
    );
    assert!(lines[0].ends_with(NOT_FOUND_HINT), "{}", outcome.stdout);
    assert_eq!(
        lines[1],
        "MISSPELT: aws-secrets:<redacted>: invalid reference: `aws-secrets:` looks like a misspelt \
         `aws-secret:`; fix the scheme, or name the variable in --literal to pass the value on \
         as it is"
    );
    assert_eq!(
        lines[2],
        format!("PRESENT: Secrets Manager, {REGION}, {name}, stage AWSCURRENT: ok")
    );
    assert!(
        outcome
            .stderr
            .ends_with("aws-init: error: 2 of 3 reference(s) failed the check\n"),
        "{}",
        outcome.stderr
    );
    assert_no_secret(&outcome.stdout, &["check-canary"]);
    assert_no_secret(&outcome.stderr, &["check-canary"]);
}

#[test]
fn check_says_when_a_default_stands_in_and_never_shows_it() {
    let present = unique("check-present");
    emulator().put_secret(&present, r#"{"host":"check-canary-4"}"#);
    let absent = unique("check-absent");
    let outcome = run(with_env(&[
        (
            "SMTP_HOST",
            &format!("aws-secret:{absent}?default=check-canary-5%3A25#host"),
        ),
        ("FLAG", &format!("aws-ssm:/{absent}?default=check-canary-6")),
        (
            "PRESENT",
            &format!("aws-secret:{present}?default=check-canary-7#host"),
        ),
    ])
    .args(["--check", "--log-level", "debug"]));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "FLAG: Parameter Store, {REGION}, /{absent}, latest version: does not exist; set to \
             its default\n\
             PRESENT: Secrets Manager, {REGION}, {present}, stage AWSCURRENT, key host: ok\n\
             SMTP_HOST: Secrets Manager, {REGION}, {absent}, stage AWSCURRENT, key host: does \
             not exist; set to its default\n"
        )
    );
    assert!(
        outcome
            .stderr
            .ends_with("aws-init: all 3 reference(s) passed the check\n"),
        "{}",
        outcome.stderr
    );
    assert_no_secret(&outcome.stdout, &["check-canary"]);
    assert_no_secret(&outcome.stderr, &["check-canary"]);
}

#[test]
fn check_offline_needs_no_aws_and_no_credentials() {
    let mut command = aws_init_at(NOWHERE);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("DB", "aws-secret:app/db?default=hunter%32#password")
        .env("TOKEN", "aws-ssm:/app/token:stable")
        .args(["--check", "--offline"]);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "DB: Secrets Manager, {REGION}, app/db, stage AWSCURRENT, key password: valid\n\
             TOKEN: Parameter Store, {REGION}, /app/token, label stable: valid\n"
        )
    );
    assert_eq!(
        outcome.stderr,
        "aws-init: all 2 reference(s) passed the check\n"
    );

    let outcome = run(aws_init_at(NOWHERE)
        .env("BAD", "aws-ssm:/app/token:3a?default=hunter2")
        .args(["--check", "--offline"]));
    assert_eq!(outcome.code(), 1, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        "BAD: aws-ssm:/app/token:3a?default=<redacted>: invalid reference: `3a` is neither a \
         version number nor a label (letters, digits, `.`, `-` and `_`, not starting with a \
         digit)\n"
    );
    assert_no_secret(&outcome.stdout, &["hunter"]);
}

#[test]
fn offline_needs_check() {
    let outcome = run(aws_init_at(NOWHERE).args(["--offline", "true"]));
    assert_eq!(outcome.code(), 2);
    assert_eq!(
        outcome.stderr,
        "aws-init: error: --offline goes with --check\n"
    );
    assert_eq!(outcome.stdout, "");
}

/// An AWS error message comes from the response, and a line break in it
/// must not start a line of the check's own.
#[test]
fn check_keeps_an_aws_error_message_on_its_line() {
    let mock = Mock::new(
        400,
        r#"{"__type":"AccessDeniedException","message":"denied\nFORGED: Secrets Manager: ok"}"#,
    );
    let outcome = run(aws_init_at(&mock.endpoint)
        .env("TOKEN", "aws-secret:app/token")
        .arg("--check"));
    assert_eq!(outcome.code(), 1, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "TOKEN: Secrets Manager, {REGION}, app/token, stage AWSCURRENT: failed: \
             AccessDeniedException: denied\\nFORGED: Secrets Manager: ok (check that the IAM \
             policy allows this call on this resource)\n"
        )
    );
}
