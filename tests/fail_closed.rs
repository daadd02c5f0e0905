//! End-to-end tests of failing closed: a reference that AWS refuses, a value
//! that cannot be used, an answer that cannot be read, or no answer in time
//! stops aws-init before the command starts, with one line per failure.

mod common;

use std::os::unix::process::CommandExt;

use common::checks::*;
use common::mock::Mock;
use common::*;

// The cases from the field.

#[test]
fn a_secret_marked_for_deletion_fails_closed() {
    let name = unique("case7");
    emulator().put_secret(&name, "deleted-secret-value");
    emulator().delete_secret(&name);
    let reference = format!("aws-secret:{name}");
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", &reference)]),
        &[rejected(
            "DB_PASSWORD",
            &reference,
            "InvalidRequestException",
            "",
        )],
        &["deleted-secret-value"],
    );
}

#[test]
fn a_value_with_a_nul_byte_fails_closed() {
    let raw = unique("case8");
    emulator().put_secret(&raw, "nul-canary-before\0nul-canary-after");
    let keyed = unique("case8-key");
    emulator().put_secret(&keyed, r#"{"k":"nul-canary-json\u0000tail"}"#);
    let raw_reference = format!("aws-secret:{raw}");
    let keyed_reference = format!("aws-secret:{keyed}#k");
    // A missing secret beside them is reported in the same run.
    let missing = format!("aws-secret:{}", unique("case8-missing"));
    let nul = "the resolved value contains a NUL byte, which an environment variable cannot hold";
    assert_fails_closed(
        || {
            with_env(&[
                ("RAW", &raw_reference),
                ("KEYED", &keyed_reference),
                ("MISSING", &missing),
            ])
        },
        &[
            failure("RAW", &raw_reference, nul),
            failure("KEYED", &keyed_reference, nul),
            rejected(
                "MISSING",
                &missing,
                "ResourceNotFoundException",
                NOT_FOUND_HINT,
            ),
        ],
        &["nul-canary", "tail"],
    );
}

// Failing closed.

#[test]
fn a_missing_secret_fails_closed() {
    let reference = format!("aws-secret:{}", unique("missing"));
    let path = format!(
        "aws-secret:/aws/reference/secretsmanager/{}",
        unique("missing")
    );
    assert_fails_closed(
        || with_env(&[("DB", &reference), ("THROUGH_SSM", &path)]),
        &[
            rejected(
                "DB",
                &reference,
                "ResourceNotFoundException",
                NOT_FOUND_HINT,
            ),
            rejected("THROUGH_SSM", &path, "ParameterNotFound", NOT_FOUND_HINT),
        ],
        &[],
    );
}

#[test]
fn a_missing_parameter_fails_closed() {
    let name = format!("/resolve/{}", unique("missing"));
    let by_name = format!("aws-ssm:{name}");
    let by_arn = format!("aws-ssm:{}", parameter_arn(REGION, &name));
    assert_fails_closed(
        || with_env(&[("BY_NAME", &by_name), ("BY_ARN", &by_arn)]),
        &[
            failure(
                "BY_NAME",
                &by_name,
                "ParameterNotFound: GetParameters listed it among InvalidParameters \
                 (check the name and the region)",
            ),
            rejected("BY_ARN", &by_arn, "ParameterNotFound", NOT_FOUND_HINT),
        ],
        &[],
    );
}

#[test]
fn a_missing_json_key_fails_closed() {
    let name = unique("no-key");
    emulator().put_secret(&name, r#"{"user":"missing-key-canary"}"#);
    let reference = format!("aws-secret:{name}#password");
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", &reference)]),
        &[failure(
            "DB_PASSWORD",
            &reference,
            "the JSON object has no key `password`",
        )],
        &["missing-key-canary"],
    );
}

#[test]
fn a_null_json_key_fails_closed() {
    let name = unique("null-key");
    emulator().put_secret(&name, r#"{"password":null,"user":"null-key-canary"}"#);
    let reference = format!("aws-secret:{name}#password");
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", &reference)]),
        &[failure(
            "DB_PASSWORD",
            &reference,
            "the JSON key `password` is null",
        )],
        &["null-key-canary"],
    );
}

#[test]
fn a_key_on_a_value_that_is_not_json_fails_closed() {
    let name = unique("not-json");
    emulator().put_secret(&name, "not-json-canary {");
    let parameter = format!("/resolve/{}", unique("not-json"));
    emulator().put_parameter(&parameter, "not-json-param-canary", "SecureString");
    let secret = format!("aws-secret:{name}#password");
    let ssm = format!("aws-ssm:{parameter}#password");
    assert_fails_closed(
        || with_env(&[("SECRET", &secret), ("PARAMETER", &ssm)]),
        &[
            failure(
                "SECRET",
                &secret,
                "the value is not valid JSON, so it has no key `password`",
            ),
            failure(
                "PARAMETER",
                &ssm,
                "the value is not valid JSON, so it has no key `password`",
            ),
        ],
        &["not-json-canary", "not-json-param-canary"],
    );
}

#[test]
fn a_key_on_a_json_array_fails_closed() {
    let name = unique("array");
    emulator().put_secret(&name, r#"["array-canary",{"password":"array-pw"}]"#);
    let reference = format!("aws-secret:{name}#password");
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", &reference)]),
        &[failure(
            "DB_PASSWORD",
            &reference,
            "the value is JSON but not an object, so it has no key `password`",
        )],
        &["array-canary", "array-pw"],
    );
}

#[test]
fn every_failure_gets_its_own_line() {
    let good = unique("mixed-good");
    emulator().put_secret(&good, r#"{"user":"mixed-user-canary"}"#);
    let missing = format!("aws-secret:{}", unique("mixed-missing"));
    let no_key = format!("aws-secret:{good}#password");
    let resolves = format!("aws-secret:{good}#user");
    assert_fails_closed(
        || {
            with_env(&[
                ("MISSING", &missing),
                ("NO_KEY", &no_key),
                ("EMPTY", "aws-ssm:"),
                ("FINE", &resolves),
            ])
        },
        &[
            rejected(
                "MISSING",
                &missing,
                "ResourceNotFoundException",
                NOT_FOUND_HINT,
            ),
            failure("NO_KEY", &no_key, "the JSON object has no key `password`"),
            failure(
                "EMPTY",
                "aws-ssm:",
                "invalid reference: the secret or parameter name is empty",
            ),
        ],
        &["mixed-user-canary"],
    );
}

#[test]
fn a_key_on_a_binary_secret_fails_closed() {
    let name = unique("binary-key");
    emulator().put_binary_secret(&name, br#"{"k":"binary-canary"}"#);
    // The command would get base64 text, which is not JSON.
    let reference = format!("aws-secret:{name}#k");
    assert_fails_closed(
        || with_env(&[("BLOB", &reference)]),
        &[failure(
            "BLOB",
            &reference,
            "the value is not valid JSON, so it has no key `k`",
        )],
        &["binary-canary"],
    );
}

#[test]
fn a_name_without_a_region_fails_closed() {
    let secret = unique("no-region");
    emulator().put_secret(&secret, "no-region-canary");
    let parameter = format!("/resolve/{}", unique("no-region"));
    emulator().put_parameter(&parameter, "no-region-param-canary", "String");
    let by_name = format!("aws-secret:{secret}");
    let ssm = format!("aws-ssm:{parameter}");
    let no_region = "no AWS region is set; set AWS_REGION or refer to the value by ARN";
    assert_fails_closed(
        || {
            let mut command = with_env(&[("SECRET", &by_name), ("PARAMETER", &ssm)]);
            command.env_remove("AWS_REGION");
            command
        },
        &[
            failure("SECRET", &by_name, no_region),
            failure("PARAMETER", &ssm, no_region),
        ],
        &["no-region-canary", "no-region-param-canary"],
    );
}

#[test]
fn an_endpoint_that_never_answers_fails_closed_at_the_timeout() {
    if skip_when_emulated(TIMING_UNDER_EMULATION) {
        return;
    }
    let silent = Silent::new();
    let reference = "aws-secret:never-answered";
    assert_fails_closed(
        || {
            let mut command = aws_init_at(&silent.endpoint);
            command.env("TOKEN", reference).args(["--timeout", "300ms"]);
            command
        },
        &[failure(
            "TOKEN",
            reference,
            "no answer within 300 ms (--timeout)",
        )],
        &[],
    );
}

// Responses that must never be quoted. The SDK's errors carry the raw
// response, and for GetSecretValue and GetParameters its body is the
// secret, so a malformed one must not reach stderr even at debug level.

/// Every 8-byte piece of `canary`, so that no part of it long enough to
/// matter can show up in stderr either.
fn pieces(canary: &str) -> Vec<&str> {
    (0..=canary.len() - 8)
        .map(|at| &canary[at..at + 8])
        .collect()
}

/// Checks that `reference`, answered by `mock`, fails closed with `error`
/// and shows no piece of `canary`. An answer that is retried is retried
/// until a deadline of 1 s.
fn assert_body_stays_hidden(mock: &Mock, reference: &str, error: &str, canary: &str) {
    assert_fails_closed(
        || {
            let mut command = aws_init_at(&mock.endpoint);
            command.env("TOKEN", reference).args(["--timeout", "1s"]);
            command
        },
        &[failure("TOKEN", reference, error)],
        &pieces(canary),
    );
}

const UNREADABLE: &str = "request failed: the response could not be read";

#[test]
fn no_malformed_response_body_reaches_stderr() {
    if skip_when_emulated(TIMING_UNDER_EMULATION) {
        return;
    }
    let secret = "aws-secret:x";
    let bad_date = r#"{"Name":"x","SecretString":"LEAK-CANARY-1","CreatedDate":"notanumber"}"#;
    let truncated = r#"{"Name":"x","SecretString":"LEAK-CANARY-2"#;
    let wrong_type = r#"{"Name":"x","SecretString":["LEAK-CANARY-3"]}"#;
    for (body, canary) in [
        (bad_date, "LEAK-CANARY-1"),
        (truncated, "LEAK-CANARY-2"),
        (wrong_type, "LEAK-CANARY-3"),
    ] {
        assert_body_stays_hidden(&Mock::new(200, body), secret, UNREADABLE, canary);
    }

    // A body cut short of its Content-Length.
    let whole = r#"{"Name":"x","SecretString":"LEAK-CANARY-4"}"#;
    let cut = Mock::declaring(200, whole, whole.len() + 100);
    assert_body_stays_hidden(&cut, secret, UNREADABLE, "LEAK-CANARY-4");

    let parameters = r#"{"Parameters":[{"Name":"/p","Value":"LEAK-CANARY-5","Version":"x"}]}"#;
    let mock = Mock::new(200, parameters);
    assert_body_stays_hidden(&mock, "aws-ssm:/p", UNREADABLE, "LEAK-CANARY-5");
}

#[test]
fn no_error_response_body_reaches_stderr() {
    if skip_when_emulated(TIMING_UNDER_EMULATION) {
        return;
    }
    let mock = Mock::new(500, r#"{"message":"LEAK-CANARY-6"}"#);
    // A 500 is retried until the deadline, which names the last failure.
    let retrying = "no answer within 1000 ms (--timeout); still retrying after request failed:";
    let no_code = format!("{retrying} the service answered HTTP 500 without an error code");
    let unreadable = format!("{retrying} the response could not be read");
    for (reference, error) in [("aws-secret:x", no_code), ("aws-ssm:/p", unreadable)] {
        assert_body_stays_hidden(&mock, reference, &error, "LEAK-CANARY-6");
    }
}

/// A value of `size` bytes that starts with a canary no other value holds.
fn sized_value(tag: &str, size: usize) -> String {
    let mut value = format!("e2big-canary-{tag}-");
    while value.len() < size {
        value.push('x');
    }
    value
}

#[test]
fn an_environment_too_large_to_exec_names_the_largest_variables() {
    let sizes = [
        ("BIG_A", 60_000),
        ("BIG_B", 50_000),
        ("BIG_C", 40_000),
        ("SMALL_D", 20_000),
    ];
    let references: Vec<(&str, String)> = sizes
        .iter()
        .map(|&(variable, size)| {
            let name = unique("e2big");
            emulator().put_secret(&name, &sized_value(variable, size));
            (variable, format!("aws-secret:{name}"))
        })
        .collect();
    let vars: Vec<(&str, &str)> = references
        .iter()
        .map(|(variable, reference)| (*variable, reference.as_str()))
        .collect();

    // With the usual 8 MiB stack limit the kernel takes 2 MiB of arguments
    // and environment, so the command starts.
    let outcome = run(with_env(&vars).arg("true"));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);

    // A stack limit of 512 KiB lowers that to the kernel's floor of
    // 128 KiB, below the 170 KB these values need.
    let mut command = with_env(&vars);
    // SAFETY: setrlimit is async-signal-safe and touches no memory the
    // parent shares.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 512 * 1024,
                rlim_max: 512 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_STACK, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    let outcome = run(command.arg("true"));
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", outcome.stderr);
    assert!(
        lines[0].starts_with("aws-init: resolved 4 variable(s) in ") && lines[0].ends_with(" ms"),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        lines[1],
        format!(
            "{ERROR}true: the arguments and environment are too large to execute the command \
             (arguments: 1 KiB; largest variables: BIG_A (59 KiB), BIG_B (49 KiB), BIG_C (40 KiB))"
        )
    );
    assert_no_secret(&outcome.stderr, &["e2big-canary", "xxxxxxxx"]);
}

#[test]
fn access_denied_and_kms_failures_fail_closed() {
    let policy = " (check that the IAM policy allows this call on this resource)";
    let cases = [
        (
            r#"{"__type":"AccessDeniedException","message":"not authorized to perform: secretsmanager:GetSecretValue"}"#,
            format!(
                "AccessDeniedException: not authorized to perform: \
                 secretsmanager:GetSecretValue{policy}"
            ),
        ),
        (
            r#"{"__type":"DecryptionFailure","message":"the KMS key cannot decrypt this secret"}"#,
            "DecryptionFailure: the KMS key cannot decrypt this secret".to_owned(),
        ),
        (
            r#"{"__type":"AccessDeniedException","message":"Access to KMS is not allowed"}"#,
            format!("AccessDeniedException: Access to KMS is not allowed{policy}"),
        ),
    ];
    for (body, error) in cases {
        let mock = Mock::new(400, body);
        let reference = "aws-secret:app/db#password";
        assert_fails_closed(
            || {
                let mut command = aws_init_at(&mock.endpoint);
                command.env("DB_PASSWORD", reference);
                command
            },
            &[failure("DB_PASSWORD", reference, &error)],
            &[],
        );
    }
}

#[test]
fn a_json_pointer_that_names_nothing_fails_closed() {
    let name = unique("pointer-miss");
    emulator().put_secret(
        &name,
        r#"{"db":{"hosts":["pointer-canary-1"],"port":5432,"none":null}}"#,
    );
    let text = unique("pointer-text");
    emulator().put_secret(&text, "pointer-canary-2 is not json");
    let at = |pointer: &str| format!("aws-secret:{name}#{pointer}");
    let cases = [
        ("MISSING", at("/db/user"), "`/db` has no such key"),
        ("TOP", at("/app/user"), "the top level has no such key"),
        (
            "INDEX",
            at("/db/hosts/1"),
            "`/db/hosts` is an array without that index",
        ),
        (
            "SCALAR",
            at("/db/port/x"),
            "`/db/port` is neither an object nor an array",
        ),
    ];
    let null = at("/db/none");
    let not_json = format!("aws-secret:{text}#/a");
    let mut vars: Vec<(&str, &str)> = cases
        .iter()
        .map(|(variable, reference, _)| (*variable, reference.as_str()))
        .collect();
    vars.push(("NULL", &null));
    vars.push(("NOT_JSON", &not_json));
    let mut expected: Vec<Line> = cases
        .iter()
        .map(|(variable, reference, why)| {
            let pointer = reference.split_once('#').map_or("", |(_, pointer)| pointer);
            failure(
                variable,
                reference,
                &format!("nothing is at JSON pointer `{pointer}`: {why}"),
            )
        })
        .collect();
    expected.push(failure(
        "NULL",
        &null,
        "the JSON value at pointer `/db/none` is null",
    ));
    expected.push(failure(
        "NOT_JSON",
        &not_json,
        "the value is not valid JSON, so nothing is at JSON pointer `/a`",
    ));
    assert_fails_closed(|| with_env(&vars), &expected, &["pointer-canary"]);
}

#[test]
fn a_version_that_does_not_exist_fails_closed() {
    let emulator = emulator();
    let name = unique("missing-version");
    emulator.put_secret(&name, "missing-version-canary");
    let parameter = format!("/{}", unique("missing-version"));
    emulator.put_parameter(&parameter, "missing-version-canary", "String");
    let stage = format!("aws-secret:{name}?version-stage=AWSPENDING");
    let id = format!("aws-secret:{name}?version-id=00000000-0000-0000-0000-000000000000");
    let version = format!("aws-ssm:{parameter}:9");
    let label = format!("aws-ssm:{parameter}:nolabel");
    assert_fails_closed(
        || {
            with_env(&[
                ("STAGE", &stage),
                ("ID", &id),
                ("VERSION", &version),
                ("LABEL", &label),
            ])
        },
        &[
            rejected("STAGE", &stage, "ResourceNotFoundException", NOT_FOUND_HINT),
            rejected("ID", &id, "ResourceNotFoundException", NOT_FOUND_HINT),
            rejected("VERSION", &version, "ParameterVersionNotFound", ""),
            rejected("LABEL", &label, "ParameterNotFound", NOT_FOUND_HINT),
        ],
        &["missing-version-canary"],
    );
}

#[test]
fn optional_does_not_hide_other_failures() {
    let emulator = emulator();
    let deleted = unique("optional-deleted");
    emulator.put_secret(&deleted, "optional-canary");
    emulator.delete_secret(&deleted);
    let object = unique("optional-object");
    emulator.put_secret(&object, r#"{"k":"optional-canary"}"#);
    let parameter = format!("/{}", unique("optional-version"));
    emulator.put_parameter(&parameter, "optional-canary", "String");
    let gone = format!("aws-secret:{deleted}?optional");
    let key = format!("aws-secret:{object}?default=x#absent");
    let version = format!("aws-ssm:{parameter}:9?optional");
    assert_fails_closed(
        || with_env(&[("GONE", &gone), ("KEY", &key), ("VERSION", &version)]),
        &[
            rejected("GONE", &gone, "InvalidRequestException", ""),
            failure(
                "KEY",
                &format!("aws-secret:{object}?default=<redacted>#absent"),
                "the JSON object has no key `absent`",
            ),
            // With a version, a missing value cannot be told from a wrong
            // version, so the two do not go together at all.
            failure(
                "VERSION",
                &version,
                "invalid reference: `?optional` and `?default=` cannot go with a version: \
                 AWS answers a version that does not exist as it answers a secret or \
                 parameter that does not",
            ),
        ],
        &["optional-canary"],
    );
    let denied = Mock::new(
        400,
        r#"{"__type":"AccessDeniedException","message":"not authorized"}"#,
    );
    let reference = "aws-secret:app/db?optional";
    assert_fails_closed(
        || {
            let mut command = aws_init_at(&denied.endpoint);
            command.env("DB", reference);
            command
        },
        &[failure(
            "DB",
            reference,
            "AccessDeniedException: not authorized \
             (check that the IAM policy allows this call on this resource)",
        )],
        &[],
    );
}
