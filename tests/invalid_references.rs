//! End-to-end tests of malformed references: a value that is meant as a
//! reference but cannot name a secret or parameter fails closed without
//! reaching the command.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::checks::*;
use common::temp::TempDir;
use common::*;

#[test]
fn a_json_pointer_with_a_bad_escape_fails_closed() {
    let name = unique("pointer");
    emulator().put_secret(&name, r#"{"db":{"password":"pointer-canary"}}"#);
    let reference = format!("aws-secret:{name}#/db/pass~2word");
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", &reference)]),
        &[failure(
            "DB_PASSWORD",
            &reference,
            "invalid reference: invalid JSON pointer: `~` must be followed by `0` or `1`",
        )],
        &["pointer-canary"],
    );
}

#[test]
fn an_empty_name_fails_closed() {
    let empty = "invalid reference: the secret or parameter name is empty";
    let path = "aws-secret:/aws/reference/secretsmanager/";
    assert_fails_closed(
        || {
            with_env(&[
                ("SECRET", "aws-secret:"),
                ("SECRET_KEY", "aws-secret:#password"),
                ("PARAMETER", "aws-ssm:"),
                ("PATH_ONLY", path),
            ])
        },
        &[
            failure("SECRET", "aws-secret:", empty),
            failure("SECRET_KEY", "aws-secret:#password", empty),
            failure("PARAMETER", "aws-ssm:", empty),
            failure("PATH_ONLY", path, empty),
        ],
        &[],
    );
}

#[test]
fn an_empty_key_fails_closed() {
    let name = unique("empty-key");
    emulator().put_secret(&name, r#"{"":"empty-key-canary"}"#);
    let reference = format!("aws-secret:{name}#");
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", &reference)]),
        &[failure(
            "DB_PASSWORD",
            &reference,
            "invalid reference: the JSON key after `#` is empty",
        )],
        &["empty-key-canary"],
    );
}

#[test]
fn malformed_selectors_fail_closed() {
    let name = unique("selector");
    let arn = emulator().put_secret(&name, "selector-canary");
    let camel = format!("aws-secret:{name}?versionStage=AWSPREVIOUS");
    let label = format!("aws-ssm:/resolve/{name}:3a");
    let both = format!("{arn}:password::#password");
    let fields = format!("{arn}:k:s:i:extra");
    assert_fails_closed(
        || {
            with_env(&[
                ("CAMEL", &camel),
                ("LABEL", &label),
                ("BOTH", &both),
                ("FIELDS", &fields),
            ])
        },
        &[
            // The value of an unknown option is hidden, since it may be a
            // misspelt default.
            failure(
                "CAMEL",
                &format!("aws-secret:{name}?versionStage=<redacted>"),
                "invalid reference: unknown option `versionStage`; expected version-stage=, \
                 version-id=, optional or default=",
            ),
            failure(
                "LABEL",
                &label,
                "invalid reference: `3a` is neither a version number nor a label (letters, \
                 digits, `.`, `-` and `_`, not starting with a digit)",
            ),
            failure(
                "BOTH",
                &both,
                "invalid reference: the JSON key or version is given both in the ARN's fields \
                 and with `#` or `?`; give it once",
            ),
            failure(
                "FIELDS",
                &fields,
                "invalid reference: too many fields after the secret name; expected \
                 NAME:JSON_KEY:VERSION_STAGE:VERSION_ID",
            ),
        ],
        &["selector-canary"],
    );
}

/// A value that starts with a scheme is meant as a reference. Bytes that
/// are not UTF-8 cannot name a secret, so such a value is a malformed
/// reference, and handing it to the command as a password fails open.
#[test]
fn a_reference_that_is_not_utf8_fails_closed() {
    let name = unique("not-utf8");
    emulator().put_secret(&name, "not-utf8-canary");
    let mut value = format!("aws-secret:{name}").into_bytes();
    value.push(0xff);
    let scratch = TempDir::new("resolve");
    let marker = scratch.path().join("started");
    let outcome = run(emulator()
        .aws_init()
        .env("DB_PASSWORD", OsStr::from_bytes(&value))
        .arg("touch")
        .arg(&marker));
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    assert!(!marker.exists(), "the command started");
    let start = format!("{ERROR}DB_PASSWORD: cannot resolve aws-secret:{name}");
    assert!(
        outcome.stderr.lines().any(|line| line.starts_with(&start)),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_arn_for_the_other_service_fails_closed() {
    let parameter = format!("aws-secret:{}", parameter_arn(REGION, "/resolve/x"));
    let secret = format!("aws-ssm:arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:x-AbCdEf");
    assert_fails_closed(
        || with_env(&[("SECRET", &parameter), ("PARAMETER", &secret)]),
        &[
            failure(
                "SECRET",
                &parameter,
                "invalid reference: expected a Secrets Manager secret ARN, found one for `ssm`",
            ),
            failure(
                "PARAMETER",
                &secret,
                "invalid reference: expected a Parameter Store parameter ARN, \
                 found one for `secretsmanager`",
            ),
        ],
        &[],
    );
}

#[test]
fn an_arn_in_the_wrong_partition_fails_closed() {
    let bare = format!("arn:aws-cn:secretsmanager:{REGION}:{ACCOUNT}:secret:x-AbCdEf");
    let prefixed = format!("aws-secret:{bare}");
    let parameter = format!("arn:aws-us-gov:ssm:eu-west-1:{ACCOUNT}:parameter/x");
    assert_fails_closed(
        || {
            with_env(&[
                ("BARE", &bare),
                ("PREFIXED", &prefixed),
                ("PARAMETER", &parameter),
            ])
        },
        &[
            failure(
                "BARE",
                &bare,
                "invalid reference: region `us-east-1` does not belong to partition `aws-cn`",
            ),
            failure(
                "PREFIXED",
                &prefixed,
                "invalid reference: region `us-east-1` does not belong to partition `aws-cn`",
            ),
            failure(
                "PARAMETER",
                &parameter,
                "invalid reference: region `eu-west-1` does not belong to partition \
                 `aws-us-gov`",
            ),
        ],
        &[],
    );
}

/// A name or reference may hold a newline, and aws-init logs both. Shown
/// raw, the newline would start a line of the value's own choosing.
#[test]
fn a_newline_in_a_name_or_reference_stays_on_its_line() {
    let reference = "aws-secret:app/x\naws-init: forged";
    // No `:` here, so this one reaches AWS, which has no such secret.
    let missing = format!("aws-secret:{}\naws-init forged", unique("newline"));
    let name = "DB\naws-init: forged";
    let escaped = |text: &str| text.replace('\n', "\\n");
    assert_fails_closed(
        || {
            with_env(&[
                ("TOKEN", reference),
                ("MISSING", &missing),
                (name, "aws-secret:"),
            ])
        },
        &[
            failure(
                "TOKEN",
                &escaped(reference),
                "invalid reference: a secret name cannot hold `:`; choose a version with \
                 `?version-stage=STAGE` or `?version-id=ID`",
            ),
            rejected(
                "MISSING",
                &escaped(&missing),
                "ResourceNotFoundException",
                NOT_FOUND_HINT,
            ),
            failure(
                &escaped(name),
                "aws-secret:",
                "invalid reference: the secret or parameter name is empty",
            ),
        ],
        &[],
    );
}

#[test]
fn a_bare_arn_that_is_not_utf8_fails_closed_unless_bare_arns_are_off() {
    let name = unique("bare-not-utf8");
    let mut value = emulator()
        .put_secret(&name, "bare-not-utf8-canary")
        .into_bytes();
    value.push(0xff);
    let value = OsStr::from_bytes(&value);
    let shown = value.to_string_lossy();
    assert_fails_closed(
        || {
            let mut command = emulator().aws_init();
            command.env("DB_PASSWORD", value);
            command
        },
        &[failure(
            "DB_PASSWORD",
            &shown,
            "invalid reference: the reference is not valid UTF-8",
        )],
        &["bare-not-utf8-canary"],
    );

    // Switched off, bare ARNs are ordinary values, whatever bytes they hold.
    let (outcome, environment) = environment_seen(
        emulator()
            .aws_init()
            .env("DB_PASSWORD", value)
            .arg("--no-bare-arns"),
    );
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(
        environment
            .get(b"DB_PASSWORD".as_slice())
            .map(Vec::as_slice),
        Some(value.as_bytes())
    );
}

#[test]
fn a_version_stage_after_a_colon_fails_closed_with_the_right_form() {
    let reference = "aws-secret:app/x:AWSCURRENT";
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", reference)]),
        &[failure(
            "DB_PASSWORD",
            reference,
            "invalid reference: a secret name cannot hold `:`; choose a version with \
             `?version-stage=STAGE` or `?version-id=ID`",
        )],
        &[],
    );
}

#[test]
fn a_parameter_path_fails_closed() {
    let reference = "aws-ssm:/app/prod/";
    assert_fails_closed(
        || with_env(&[("CONFIG", reference)]),
        &[failure(
            "CONFIG",
            reference,
            "invalid reference: a name ending in `/` is a path; load every parameter under it \
             with --ssm-path PATH",
        )],
        &[],
    );
}

#[test]
fn a_misspelt_scheme_fails_closed_with_a_hint() {
    let hint = |found: &str, expected: &str| {
        format!(
            "invalid reference: `{found}` looks like a misspelt `{expected}`; fix the scheme, \
             or name the variable in --literal to pass the value on as it is"
        )
    };
    assert_fails_closed(
        || {
            with_env(&[
                ("DB_PASSWORD", "aws-secrets:app/db#password"),
                ("TOKEN", "AWS-SSM:/app/token"),
                ("API_KEY", "aws-secert:app/api"),
                // Quotes and spaces that an env file kept literally.
                ("QUOTED", "\"aws-secret:app/db\""),
                ("SPACED", " aws-ssm:/app/token"),
                // One edit, in three bytes.
                ("EURO", "aws-secret\u{20ac}:app/db"),
            ])
        },
        &[
            failure(
                "DB_PASSWORD",
                "aws-secrets:<redacted>",
                &hint("aws-secrets:", "aws-secret:"),
            ),
            failure("TOKEN", "AWS-SSM:<redacted>", &hint("AWS-SSM:", "aws-ssm:")),
            failure(
                "API_KEY",
                "aws-secert:<redacted>",
                &hint("aws-secert:", "aws-secret:"),
            ),
            failure(
                "QUOTED",
                "\"aws-secret:<redacted>",
                &hint("\"aws-secret:", "aws-secret:"),
            ),
            failure(
                "SPACED",
                " aws-ssm:<redacted>",
                &hint(" aws-ssm:", "aws-ssm:"),
            ),
            failure(
                "EURO",
                "aws-secret\u{20ac}:<redacted>",
                &hint("aws-secret\u{20ac}:", "aws-secret:"),
            ),
        ],
        &["app/db", "app/token", "app/api"],
    );
}

/// A value that only looks like a misspelt reference is the user's own,
/// and may be a password: the error shows its prefix and nothing more.
#[test]
fn a_value_that_looks_misspelt_is_shown_only_up_to_its_first_colon() {
    let line = "aws-init: error: PASSWORD: cannot resolve aws-s3:<redacted>: invalid reference: \
                `aws-s3:` looks like a misspelt `aws-ssm:`; fix the scheme, or name the variable \
                in --literal to pass the value on as it is";
    for value in [
        b"aws-s3:SuperSecretValue123".as_slice(),
        b"aws-s3:SuperSecretValue123\xff".as_slice(),
    ] {
        let mut command = with_env(&[]);
        command.env("PASSWORD", OsStr::from_bytes(value));
        let outcome = run(command.arg("true"));
        assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
        assert_eq!(outcome.stdout, "");
        assert_eq!(
            outcome.stderr,
            format!(
                "{line}\naws-init: error: 1 reference(s) failed to resolve; the command was not \
                 started\n"
            )
        );
        assert_no_secret(&outcome.stderr, &["SuperSecret", "Value123"]);

        let mut command = with_env(&[]);
        command.env("PASSWORD", OsStr::from_bytes(value));
        let outcome = run(command.args(["--check", "--log-level", "debug"]));
        assert_eq!(outcome.code(), 1, "{}", outcome.stderr);
        assert_eq!(
            outcome.stdout,
            format!("{}\n", line.strip_prefix("aws-init: error: ").unwrap())
                .replace(": cannot resolve ", ": ")
        );
        assert_no_secret(&outcome.stdout, &["SuperSecret", "Value123"]);
        assert_no_secret(&outcome.stderr, &["SuperSecret", "Value123"]);
    }
}

#[test]
fn a_literal_variable_keeps_a_value_that_looks_misspelt() {
    let outcome = run(with_env(&[("TOPIC", "aws-sns:orders")]).args([
        "--literal",
        "TOPIC",
        "printenv",
        "TOPIC",
    ]));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "aws-sns:orders\n");
    assert_eq!(outcome.stderr, "");
}

#[test]
fn a_stand_in_cannot_go_with_a_version() {
    let why = "invalid reference: `?optional` and `?default=` cannot go with a version: AWS \
               answers a version that does not exist as it answers a secret or parameter that \
               does not";
    assert_fails_closed(
        || {
            with_env(&[
                (
                    "STAGE",
                    "aws-secret:app/db?version-stage=AWSPENDING&optional",
                ),
                ("LABEL", "aws-ssm:/app/token:stable?default=x"),
            ])
        },
        &[
            failure(
                "STAGE",
                "aws-secret:app/db?version-stage=AWSPENDING&optional",
                why,
            ),
            failure("LABEL", "aws-ssm:/app/token:stable?default=<redacted>", why),
        ],
        &[],
    );
}

#[test]
fn an_option_without_its_equals_sign_is_hidden() {
    let reference = "aws-ssm:/app/token?default%3Dhunter2";
    assert_fails_closed(
        || with_env(&[("TOKEN", reference)]),
        &[failure(
            "TOKEN",
            "aws-ssm:/app/token?<redacted>",
            "invalid reference: unknown option `<redacted>`; expected optional or default=",
        )],
        &["hunter2"],
    );
}
