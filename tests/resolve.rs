//! End-to-end tests of resolution: the built aws-init against the emulator,
//! checking what reaches the command and what aws-init says when it refuses.

mod common;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;

/// The start of every line aws-init logs at the error level.
const ERROR: &str = "aws-init: error: ";

/// The hint aws-init adds when AWS says a name does not exist.
const NOT_FOUND_HINT: &str = " (check the name and the region)";

/// A Command for aws-init that reaches the emulator, with `vars` added to
/// the harness's environment.
fn with_env(vars: &[(&str, &str)]) -> Command {
    let mut command = emulator().aws_init();
    envs(&mut command, vars);
    command
}

/// Panics if any of `secrets` shows up in `stderr`.
fn assert_no_secret(stderr: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !stderr.contains(secret),
            "stderr shows the value {secret:?}:\n{stderr}"
        );
    }
}

/// Runs `printenv` for each of `vars` at the most verbose log level, and
/// checks that the command printed `expected` in order and that none of
/// those values reached stderr.
fn assert_resolves(vars: &[(&str, &str)], expected: &[&str]) {
    let names: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
    let outcome = run(with_env(vars)
        .args(["--log-level", "debug", "printenv"])
        .args(&names));
    let stdout: String = expected.iter().map(|value| format!("{value}\n")).collect();
    assert_eq!(outcome.stdout, stdout, "{}", outcome.stderr);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, expected);
}

/// A directory no other test uses, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let path = std::env::temp_dir().join(unique("aws-init-resolve"));
        fs::create_dir(&path).unwrap();
        Scratch(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `env -0` under aws-init and returns the run with the environment
/// the command saw, as bytes. The dump goes to a file because `Outcome`
/// keeps stdout as lossy UTF-8, which would hide the bytes under test.
fn environment_seen(command: &mut Command) -> (Outcome, HashMap<Vec<u8>, Vec<u8>>) {
    let scratch = Scratch::new();
    let path = scratch.join("environ");
    let child = command
        .args(["env", "-0"])
        .stdin(Stdio::null())
        .stdout(File::create(&path).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let outcome = finish(child);
    let environment = fs::read(&path)
        .unwrap()
        .split(|&byte| byte == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let equals = entry.iter().position(|&byte| byte == b'=').unwrap();
            (entry[..equals].to_vec(), entry[equals + 1..].to_vec())
        })
        .collect();
    (outcome, environment)
}

/// What one failure line must look like.
#[derive(Debug)]
enum Line {
    /// Exactly this line.
    Is(String),
    /// A line that starts and ends so, with the emulator's own wording of
    /// an AWS error between, which these tests do not pin.
    Around(String, &'static str),
}

impl Line {
    fn matches(&self, line: &str) -> bool {
        match self {
            Line::Is(expected) => line == expected,
            Line::Around(start, end) => {
                line.len() > start.len() + end.len()
                    && line.starts_with(start)
                    && line.ends_with(end)
            }
        }
    }
}

/// The line aws-init prints for `variable` holding `reference` that failed
/// with `error`.
fn failure(variable: &str, reference: &str, error: &str) -> Line {
    Line::Is(format!(
        "{ERROR}{variable}: cannot resolve {reference}: {error}"
    ))
}

/// The line for a reference that AWS rejected with `code`, ending with
/// `hint`.
fn rejected(variable: &str, reference: &str, code: &str, hint: &'static str) -> Line {
    Line::Around(
        format!("{ERROR}{variable}: cannot resolve {reference}: {code}: "),
        hint,
    )
}

/// Checks that aws-init, run by `make` at the default and at the most
/// verbose log level, exits 125 without starting the command, prints one
/// line per failure in `expected` and then their count, and shows none of
/// `secrets`.
fn assert_fails_closed(make: impl Fn() -> Command, expected: &[Line], secrets: &[&str]) {
    for level in [None, Some("debug")] {
        let scratch = Scratch::new();
        let marker = scratch.join("started");
        let mut command = make();
        if let Some(level) = level {
            command.args(["--log-level", level]);
        }
        let outcome = run(command.arg("touch").arg(&marker));
        let stderr = &outcome.stderr;

        assert_eq!(outcome.code(), 125, "{stderr}");
        assert_eq!(outcome.stdout, "");
        assert!(!marker.exists(), "the command started:\n{stderr}");
        assert_no_secret(stderr, secrets);

        let mut errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with(ERROR)).collect();
        if level.is_none() {
            assert_eq!(errors.len(), stderr.lines().count(), "{stderr}");
        }
        let summary = format!(
            "{ERROR}{} reference(s) failed to resolve; the command was not started",
            expected.len()
        );
        assert_eq!(errors.pop(), Some(summary.as_str()), "{stderr}");
        assert_eq!(errors.len(), expected.len(), "{stderr}");
        for line in expected {
            let count = errors.iter().filter(|error| line.matches(error)).count();
            assert_eq!(count, 1, "want one line like {line:?} in:\n{stderr}");
        }
    }
}

// Each reference form.

#[test]
fn secret_by_name_resolves() {
    let name = unique("by-name");
    emulator().put_secret(&name, "value-of-secret-by-name");
    assert_resolves(
        &[("TOKEN", &format!("aws-secret:{name}"))],
        &["value-of-secret-by-name"],
    );
}

#[test]
fn secret_by_arn_resolves() {
    let arn = emulator().put_secret(&unique("by-arn"), "value-of-secret-by-arn");
    assert_resolves(
        &[("TOKEN", &format!("aws-secret:{arn}"))],
        &["value-of-secret-by-arn"],
    );
}

#[test]
fn secret_json_key_resolves_by_name_and_by_arn() {
    let name = unique("with-key");
    let arn = emulator().put_secret(&name, r#"{"user":"key-user-a","password":"key-pw-b"}"#);
    assert_resolves(
        &[
            ("BY_NAME", &format!("aws-secret:{name}#user")),
            ("BY_ARN", &format!("aws-secret:{arn}#password")),
        ],
        &["key-user-a", "key-pw-b"],
    );
}

#[test]
fn secret_through_parameter_store_path_resolves() {
    let whole = unique("through-ssm");
    emulator().put_secret(&whole, "value-through-ssm-path");
    let keyed = unique("through-ssm-key");
    emulator().put_secret(&keyed, r#"{"k":"value-through-ssm-key"}"#);
    assert_resolves(
        &[
            (
                "WHOLE",
                &format!("aws-secret:/aws/reference/secretsmanager/{whole}"),
            ),
            (
                "KEYED",
                &format!("aws-secret:/aws/reference/secretsmanager/{keyed}#k"),
            ),
        ],
        &["value-through-ssm-path", "value-through-ssm-key"],
    );
}

#[test]
fn parameter_by_name_resolves_each_type() {
    let plain = format!("/resolve/{}", unique("string"));
    let list = format!("/resolve/{}", unique("list"));
    let secure = format!("/resolve/{}", unique("secure"));
    emulator().put_parameter(&plain, "plain-parameter-value", "String");
    emulator().put_parameter(&list, "list-one,list-two,list-three", "StringList");
    emulator().put_parameter(&secure, "secure-parameter-value", "SecureString");
    assert_resolves(
        &[
            ("PLAIN", &format!("aws-ssm:{plain}")),
            ("LIST", &format!("aws-ssm:{list}")),
            ("SECURE", &format!("aws-ssm:{secure}")),
        ],
        &[
            "plain-parameter-value",
            "list-one,list-two,list-three",
            "secure-parameter-value",
        ],
    );
}

#[test]
fn parameter_by_arn_resolves() {
    let name = format!("/resolve/{}", unique("param-arn"));
    emulator().put_parameter(&name, "parameter-by-arn-value", "SecureString");
    assert_resolves(
        &[(
            "TOKEN",
            &format!("aws-ssm:{}", parameter_arn(REGION, &name)),
        )],
        &["parameter-by-arn-value"],
    );
}

#[test]
fn parameter_json_key_resolves_by_name_and_by_arn() {
    let name = format!("/resolve/{}", unique("param-key"));
    let json = r#"{"host":"param-key-host","port":6379}"#;
    emulator().put_parameter(&name, json, "SecureString");
    assert_resolves(
        &[
            ("HOST", &format!("aws-ssm:{name}#host")),
            (
                "PORT",
                &format!("aws-ssm:{}#port", parameter_arn(REGION, &name)),
            ),
        ],
        &["param-key-host", "6379"],
    );
}

#[test]
fn bare_secret_arn_resolves() {
    let arn = emulator().put_secret(&unique("bare"), r#"{"k":"bare-arn-keyed"}"#);
    let whole = emulator().put_secret(&unique("bare-whole"), "bare-arn-value");
    assert_resolves(
        &[("WHOLE", whole.as_str()), ("KEYED", &format!("{arn}#k"))],
        &["bare-arn-value", "bare-arn-keyed"],
    );
}

#[test]
fn bare_parameter_arn_resolves() {
    let name = format!("/resolve/{}", unique("bare-param"));
    emulator().put_parameter(&name, "bare-parameter-value", "String");
    assert_resolves(
        &[("TOKEN", &parameter_arn(REGION, &name))],
        &["bare-parameter-value"],
    );
}

// The cases from the field.

#[test]
fn non_string_json_values_come_out_as_json_text() {
    let name = unique("case1");
    emulator().put_secret(
        &name,
        r#"{"port":5432,"password":"pw-1","tls":true,"opts":{"a":1}}"#,
    );
    let reference = |key: &str| format!("aws-secret:{name}#{key}");
    let outcome = run(with_env(&[
        ("PASSWORD", &reference("password")),
        ("PORT", &reference("port")),
        ("TLS", &reference("tls")),
        ("OPTS", &reference("opts")),
    ])
    .args(["--log-level", "debug", "printenv"])
    .args(["PASSWORD", "PORT", "TLS", "OPTS"]));
    assert_eq!(outcome.stdout, "pw-1\n5432\ntrue\n{\"a\":1}\n");
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    // Digits and `true` could turn up in a process id or a duration, so
    // only the distinctive values are looked for.
    assert_no_secret(&outcome.stderr, &["pw-1", r#"{"a":1}"#]);
}

#[test]
fn an_arn_in_another_region_wins_over_aws_region() {
    let name = unique("case2");
    emulator().put_secret_in("us-east-1", &name, "token-from-us-east-1");
    let arn = emulator().put_secret_in("eu-west-1", &name, "token-from-eu-west-1");
    assert!(arn.contains(":eu-west-1:"), "{arn}");

    let parameter = format!("/resolve/{name}");
    emulator().put_parameter_in("us-east-1", &parameter, "param-from-us-east-1", "String");
    emulator().put_parameter_in("eu-west-1", &parameter, "param-from-eu-west-1", "String");

    let outcome = run(with_env(&[
        ("AWS_REGION", "us-east-1"),
        ("PREFIXED", &format!("aws-secret:{arn}")),
        ("BARE", &arn),
        (
            "PARAMETER",
            &format!("aws-ssm:{}", parameter_arn("eu-west-1", &parameter)),
        ),
    ])
    .args(["--log-level", "debug", "printenv"])
    .args(["PREFIXED", "BARE", "PARAMETER"]));
    assert_eq!(
        outcome.stdout, "token-from-eu-west-1\ntoken-from-eu-west-1\nparam-from-eu-west-1\n",
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, &["token-from-", "param-from-"]);
}

#[test]
fn eleven_parameters_all_resolve() {
    let prefix = format!("/resolve/{}", unique("case3"));
    let names: Vec<String> = (0..11).map(|i| format!("P{i}")).collect();
    let values: Vec<String> = (0..11).map(|i| format!("eleven-value-{i}")).collect();
    let mut references = Vec::new();
    for (name, value) in names.iter().zip(&values) {
        let parameter = format!("{prefix}/{name}");
        emulator().put_parameter(&parameter, value, "String");
        references.push((name.as_str(), format!("aws-ssm:{parameter}")));
    }
    let vars: Vec<(&str, &str)> = references
        .iter()
        .map(|(name, reference)| (*name, reference.as_str()))
        .collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    assert_resolves(&vars, &values);
}

#[test]
fn a_pem_block_arrives_byte_for_byte() {
    let pem = "-----BEGIN CERTIFICATE-----\n\
               MIIBszCCAVmgAwIBAgIUJ6wQ0Ff+eZJ2\n\
               a2V5LW1hdGVyaWFsLWZvci10ZXN0cw==\n\
               -----END CERTIFICATE-----\n";
    let whole = unique("case5");
    emulator().put_secret(&whole, pem);
    let keyed = unique("case5-key");
    let json = serde_json::json!({ "cert": pem }).to_string();
    emulator().put_secret(&keyed, &json);

    for reference in [
        format!("aws-secret:{whole}"),
        format!("aws-secret:{keyed}#cert"),
    ] {
        let outcome = run(with_env(&[("PEM", &reference)]).args([
            "--log-level",
            "debug",
            "sh",
            "-c",
            "printf '%s' \"$PEM\"",
        ]));
        assert_eq!(outcome.stdout.as_bytes(), pem.as_bytes(), "{reference}");
        assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
        assert_no_secret(&outcome.stderr, &["CERTIFICATE", "MIIBszCC"]);
    }
}

#[test]
fn a_secret_used_twice_is_fetched_once() {
    let name = unique("case6");
    emulator().put_secret(&name, r#"{"user":"twice-user","password":"twice-pw"}"#);
    let outcome = run(with_env(&[
        ("A", &format!("aws-secret:{name}#user")),
        ("B", &format!("aws-secret:{name}#password")),
    ])
    .args(["--log-level", "debug", "printenv", "A", "B"]));
    assert_eq!(outcome.stdout, "twice-user\ntwice-pw\n");
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, &["twice-user", "twice-pw"]);

    let fetch = format!("aws-init: debug: GetSecretValue {name}:");
    let fetches = outcome
        .stderr
        .lines()
        .filter(|line| line.starts_with(&fetch))
        .count();
    assert_eq!(fetches, 1, "{}", outcome.stderr);
}

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

    for (variable, reference) in [
        ("RAW", format!("aws-secret:{raw}")),
        ("KEYED", format!("aws-secret:{keyed}#k")),
    ] {
        for level in ["info", "debug"] {
            let scratch = Scratch::new();
            let marker = scratch.join("started");
            let outcome = run(with_env(&[(variable, &reference)])
                .args(["--log-level", level, "touch"])
                .arg(&marker));
            assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
            assert!(!marker.exists(), "the command started");
            let line = format!(
                "{ERROR}{variable}: the resolved value contains a NUL byte, which an \
                 environment variable cannot hold; the command was not started"
            );
            assert!(
                outcome.stderr.lines().any(|l| l == line),
                "{}",
                outcome.stderr
            );
            assert_no_secret(&outcome.stderr, &["nul-canary", "tail"]);
        }
    }
}

#[test]
fn sh_c_sees_the_resolved_value() {
    let name = unique("case9");
    emulator().put_secret(&name, "dollar-var-value");
    let outcome = run(
        with_env(&[("DB_PASSWORD", &format!("aws-secret:{name}"))]).args([
            "--log-level",
            "debug",
            "sh",
            "-c",
            "echo \"$DB_PASSWORD\"",
        ]),
    );
    assert_eq!(outcome.stdout, "dollar-var-value\n");
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, &["dollar-var-value"]);
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
fn a_json_pointer_key_fails_closed() {
    let name = unique("pointer");
    emulator().put_secret(&name, r#"{"db":{"password":"pointer-canary"}}"#);
    let reference = format!("aws-secret:{name}#/db/password");
    assert_fails_closed(
        || with_env(&[("DB_PASSWORD", &reference)]),
        &[failure(
            "DB_PASSWORD",
            &reference,
            "invalid reference: a key starting with `/` is reserved for JSON pointers, \
             which are not supported yet; use a top-level key",
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
fn unsupported_selectors_fail_closed() {
    let name = unique("selector");
    let arn = emulator().put_secret(&name, "selector-canary");
    let stage = format!("aws-secret:{name}?versionStage=AWSPREVIOUS");
    let version = format!("aws-ssm:/resolve/{name}:1");
    let ecs = format!("aws-secret:{arn}:password::");
    assert_fails_closed(
        || with_env(&[("STAGE", &stage), ("VERSION", &version), ("ECS", &ecs)]),
        &[
            failure(
                "STAGE",
                &stage,
                "invalid reference: `?` in a name is reserved for version selectors, \
                 which are not supported yet",
            ),
            failure(
                "VERSION",
                &version,
                "invalid reference: `:` in a name is reserved for version selectors, \
                 which are not supported yet",
            ),
            failure(
                "ECS",
                &ecs,
                "invalid reference: JSON key, version stage or version id fields after \
                 the secret name are not supported yet; use `aws-secret:ARN#KEY`",
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
    let scratch = Scratch::new();
    let marker = scratch.join("started");
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

/// Parameter Store drops the leading slash of a single-level name, so
/// `/NAME` and `NAME` are one parameter and GetParameters answers with
/// `NAME`.
#[test]
fn a_single_level_parameter_resolves_with_a_leading_slash() {
    let name = unique("single-level");
    emulator().put_parameter(&name, "single-level-value", "String");
    assert_resolves(
        &[("TOKEN", &format!("aws-ssm:/{name}"))],
        &["single-level-value"],
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
fn a_binary_secret_fails_closed() {
    let name = unique("binary");
    emulator().put_binary_secret(&name, b"binary-canary\x00\xff");
    let reference = format!("aws-secret:{name}");
    assert_fails_closed(
        || with_env(&[("BLOB", &reference)]),
        &[failure(
            "BLOB",
            &reference,
            "the secret holds binary data (SecretBinary), which is not supported yet",
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
        ("LEADING_SPACE", format!(" {reference}")),
        ("QUOTED", format!("\"{reference}\"")),
        ("URL", format!("postgres://u:{reference}@db/app")),
        ("SCHEME_CASE", format!("AWS-SECRET:{name}")),
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
fn no_bare_arns_flag_leaves_bare_arns_untouched() {
    let (secret_arn, parameter_arn, reference) = bare_arns_and_reference();
    let outcome = run(with_env(&[
        ("BARE_SECRET", &secret_arn),
        ("BARE_PARAMETER", &parameter_arn),
        ("REFERENCE", &reference),
    ])
    .args(["--no-bare-arns", "--log-level", "debug", "printenv"])
    .args(["BARE_SECRET", "BARE_PARAMETER", "REFERENCE"]));
    assert_eq!(
        outcome.stdout,
        format!("{secret_arn}\n{parameter_arn}\nswitch-resolved-value\n"),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, &["switch-resolved-value"]);
}

#[test]
fn aws_init_bare_arns_0_leaves_bare_arns_untouched() {
    let (secret_arn, parameter_arn, reference) = bare_arns_and_reference();
    let outcome = run(with_env(&[
        ("AWS_INIT_BARE_ARNS", "0"),
        ("BARE_SECRET", &secret_arn),
        ("BARE_PARAMETER", &parameter_arn),
        ("REFERENCE", &reference),
    ])
    .args(["--log-level", "debug", "printenv"])
    .args(["BARE_SECRET", "BARE_PARAMETER", "REFERENCE"]));
    assert_eq!(
        outcome.stdout,
        format!("{secret_arn}\n{parameter_arn}\nswitch-resolved-value\n"),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, &["switch-resolved-value"]);
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

#[test]
fn an_endpoint_that_never_answers_fails_closed_at_the_timeout() {
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
