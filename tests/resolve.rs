//! End-to-end tests of resolution: each reference form, and the cases from
//! the field, reaching the command with the right value.

mod common;

use common::checks::*;
use common::*;

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

/// Parameter Store drops the leading slash of a single-level name, so
/// `/NAME` and `NAME` are one parameter and GetParameters answers with
/// `NAME`.
#[test]
fn a_single_level_parameter_resolves_with_or_without_a_leading_slash() {
    let name = unique("single-level");
    emulator().put_parameter(&name, "single-level-value", "String");
    let slashed = unique("single-level");
    emulator().put_parameter(&format!("/{slashed}"), "slashed-value", "String");
    assert_resolves(
        &[
            ("TOKEN", &format!("aws-ssm:/{name}")),
            ("BARE", &format!("aws-ssm:{name}")),
            ("SLASHED", &format!("aws-ssm:{slashed}")),
            ("OPTIONAL", &format!("aws-ssm:{slashed}?optional")),
        ],
        &[
            "single-level-value",
            "single-level-value",
            "slashed-value",
            "slashed-value",
        ],
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

#[test]
fn json_pointers_reach_into_nested_objects_and_arrays() {
    let name = unique("pointer");
    let arn = emulator().put_secret(
        &name,
        r#"{"db":{"hosts":["db-1.internal","db-2.internal"],"port":5432,
            "creds":{"user":"app","pass":"pointer-pass"}},"a/b":{"m~n":"pointer-escaped"},
            "db.creds":"dotted-key"}"#,
    );
    let parameter = format!("/{}", unique("pointer-parameter"));
    emulator().put_parameter(&parameter, r#"{"tls":{"ca":"pointer-ca"}}"#, "SecureString");
    assert_resolves(
        &[
            ("PASS", &format!("aws-secret:{name}#/db/creds/pass")),
            ("SECOND_HOST", &format!("aws-secret:{name}#/db/hosts/1")),
            ("PORT", &format!("aws-secret:{name}#/db/port")),
            ("HOSTS", &format!("aws-secret:{name}#/db/hosts")),
            ("ESCAPED", &format!("aws-secret:{name}#/a~1b/m~0n")),
            ("DOTTED", &format!("aws-secret:{name}#db.creds")),
            ("BY_ARN", &format!("{arn}#/db/creds/user")),
            ("CA", &format!("aws-ssm:{parameter}#/tls/ca")),
        ],
        &[
            "pointer-pass",
            "db-2.internal",
            "5432",
            r#"["db-1.internal","db-2.internal"]"#,
            "pointer-escaped",
            "dotted-key",
            "app",
            "pointer-ca",
        ],
    );
}

#[test]
fn a_binary_secret_arrives_as_standard_base64() {
    let name = unique("binary");
    // Every byte value, so that `+`, `/` and padding all show up.
    let bytes: Vec<u8> = (0..=255u8).collect();
    emulator().put_binary_secret(&name, &bytes);
    let short = unique("binary-short");
    emulator().put_binary_secret(&short, b"\xfb\xff");
    assert_resolves(
        &[
            ("BLOB", &format!("aws-secret:{name}")),
            ("SHORT", &format!("aws-secret:{short}")),
        ],
        &[
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==",
            "+/8=",
        ],
    );
}

#[test]
fn secret_versions_resolve_by_stage_id_and_the_ecs_long_form() {
    let emulator = emulator();
    let name = unique("versions");
    let (arn, first) = emulator.put_secret_versioned(&name, r#"{"password":"pw-one"}"#);
    emulator.put_secret_version(&name, r#"{"password":"pw-two"}"#, &[]);
    let pending =
        emulator.put_secret_version(&name, r#"{"password":"pw-pending"}"#, &["AWSPENDING"]);
    assert_resolves(
        &[
            ("CURRENT", &format!("aws-secret:{name}#password")),
            (
                "PREVIOUS",
                &format!("aws-secret:{name}?version-stage=AWSPREVIOUS#password"),
            ),
            (
                "PENDING",
                &format!("aws-secret:{name}?version-stage=AWSPENDING#password"),
            ),
            (
                "FIRST",
                &format!("aws-secret:{name}?version-id={first}#password"),
            ),
            (
                "BOTH",
                &format!("aws-secret:{name}?version-stage=AWSPREVIOUS&version-id={first}#password"),
            ),
            (
                "BY_ARN",
                &format!("aws-secret:{arn}?version-id={pending}#password"),
            ),
            ("ECS_KEY", &format!("{arn}:password::")),
            ("ECS_STAGE", &format!("{arn}:password:AWSPREVIOUS:")),
            ("ECS_ID", &format!("{arn}:password::{first}")),
            ("ECS_WHOLE", &format!("{arn}::AWSPENDING")),
            (
                "ECS_PREFIXED",
                &format!("aws-secret:{arn}:password:AWSPREVIOUS:"),
            ),
            (
                "ECS_PREFIXED_ID",
                &format!("aws-secret:{arn}:password::{pending}"),
            ),
            (
                "BARE_STAGE",
                &format!("{arn}?version-stage=AWSPREVIOUS#password"),
            ),
            ("BARE_ID", &format!("{arn}?version-id={pending}")),
        ],
        &[
            "pw-two",
            "pw-one",
            "pw-pending",
            "pw-one",
            "pw-one",
            "pw-pending",
            "pw-two",
            "pw-one",
            "pw-one",
            r#"{"password":"pw-pending"}"#,
            "pw-one",
            "pw-pending",
            "pw-one",
            r#"{"password":"pw-pending"}"#,
        ],
    );
}

#[test]
fn parameter_versions_and_labels_resolve() {
    let emulator = emulator();
    let name = format!("/{}", unique("parameter-versions"));
    emulator.put_parameter(&name, "param-one", "String");
    let second = emulator.overwrite_parameter(&name, "param-two");
    assert_eq!(second, 2);
    emulator.label_parameter(&name, 1, "stable");
    let arn = parameter_arn(REGION, &name);
    let json = format!("/{}", unique("parameter-versions-json"));
    emulator.put_parameter(&json, r#"{"k":"json-one"}"#, "String");
    emulator.overwrite_parameter(&json, r#"{"k":"json-two"}"#);
    emulator.label_parameter(&json, 1, "stable");
    let json_arn = parameter_arn(REGION, &json);
    assert_resolves(
        &[
            ("LATEST", &format!("aws-ssm:{name}")),
            ("FIRST", &format!("aws-ssm:{name}:1")),
            ("SECOND", &format!("aws-ssm:{name}:2")),
            ("STABLE", &format!("aws-ssm:{name}:stable")),
            ("BY_ARN", &format!("{arn}:1")),
            ("BY_ARN_LABEL", &format!("{arn}:stable")),
            ("PREFIXED_ARN", &format!("aws-ssm:{arn}:2")),
            ("PREFIXED_ARN_LABEL", &format!("aws-ssm:{arn}:stable")),
            ("VERSION_KEY", &format!("aws-ssm:{json}:1#k")),
            ("LABEL_KEY", &format!("aws-ssm:{json}:stable#k")),
            ("LATEST_KEY", &format!("aws-ssm:{json}#k")),
            ("ARN_VERSION_KEY", &format!("aws-ssm:{json_arn}:2#k")),
            ("BARE_ARN_LABEL_POINTER", &format!("{json_arn}:stable#/k")),
        ],
        &[
            "param-two",
            "param-one",
            "param-two",
            "param-one",
            "param-one",
            "param-one",
            "param-two",
            "param-one",
            "json-one",
            "json-one",
            "json-two",
            "json-two",
            "json-one",
        ],
    );
}

#[test]
fn optional_and_default_stand_in_only_for_what_does_not_exist() {
    let emulator = emulator();
    let present = unique("optional-present");
    emulator.put_secret(&present, r#"{"k":"present-value"}"#);
    let parameter = format!("/{}", unique("optional-present"));
    emulator.put_parameter(&parameter, "present-parameter", "String");
    let absent = unique("optional-absent");
    let present_arn = emulator.put_secret(&unique("optional-present"), r#"{"k":"arn-present"}"#);
    let absent_arn = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{absent}-AbCdEf");
    let absent_parameter_arn = parameter_arn(REGION, &format!("/{absent}/arn"));
    let reference_path = format!("aws-secret:/aws/reference/secretsmanager/{absent}");
    let mut command = with_env(&[
        ("UNSET_BARE_SECRET_ARN", &format!("{absent_arn}?optional#k")),
        (
            "DEFAULT_SECRET_ARN",
            &format!("aws-secret:{absent_arn}?default=arn-fallback#k"),
        ),
        ("UNSET_ECS_FORM", &format!("{absent_arn}:k::?optional")),
        (
            "PRESENT_BARE_SECRET_ARN",
            &format!("{present_arn}?optional#k"),
        ),
        (
            "UNSET_BARE_PARAMETER_ARN",
            &format!("{absent_parameter_arn}?optional"),
        ),
        (
            "DEFAULT_PARAMETER_ARN",
            &format!("aws-ssm:{absent_parameter_arn}?default=parameter-arn-fallback"),
        ),
        (
            "UNSET_REFERENCE_PATH",
            &format!("{reference_path}?optional#k"),
        ),
        (
            "DEFAULT_REFERENCE_PATH",
            &format!("{reference_path}?default=reference-fallback"),
        ),
        ("UNSET_SECRET", &format!("aws-secret:{absent}?optional#k")),
        ("UNSET_PARAMETER", &format!("aws-ssm:/{absent}?optional")),
        (
            "DEFAULT_SECRET",
            &format!("aws-secret:{absent}?default=fall%20back%26more#k"),
        ),
        (
            "DEFAULT_PARAMETER",
            &format!("aws-ssm:/{absent}-2?default="),
        ),
        (
            "PRESENT_SECRET",
            &format!("aws-secret:{present}?optional#k"),
        ),
        (
            "PRESENT_PARAMETER",
            &format!("aws-ssm:{parameter}?default=unused"),
        ),
    ]);
    command.args(["--log-level", "debug"]);
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    let get = |name: &str| seen.get(name.as_bytes()).map(|value| value.as_slice());
    assert_eq!(get("UNSET_SECRET"), None);
    assert_eq!(get("UNSET_PARAMETER"), None);
    assert_eq!(get("DEFAULT_SECRET"), Some(b"fall back&more".as_slice()));
    assert_eq!(get("DEFAULT_PARAMETER"), Some(b"".as_slice()));
    assert_eq!(get("PRESENT_SECRET"), Some(b"present-value".as_slice()));
    assert_eq!(
        get("PRESENT_PARAMETER"),
        Some(b"present-parameter".as_slice())
    );
    assert_eq!(get("UNSET_BARE_SECRET_ARN"), None);
    assert_eq!(get("DEFAULT_SECRET_ARN"), Some(b"arn-fallback".as_slice()));
    assert_eq!(get("UNSET_ECS_FORM"), None);
    assert_eq!(
        get("PRESENT_BARE_SECRET_ARN"),
        Some(b"arn-present".as_slice())
    );
    assert_eq!(get("UNSET_BARE_PARAMETER_ARN"), None);
    assert_eq!(
        get("DEFAULT_PARAMETER_ARN"),
        Some(b"parameter-arn-fallback".as_slice())
    );
    assert_eq!(get("UNSET_REFERENCE_PATH"), None);
    assert_eq!(
        get("DEFAULT_REFERENCE_PATH"),
        Some(b"reference-fallback".as_slice())
    );
    assert_no_secret(
        &outcome.stderr,
        &[
            "fall back",
            "fall%20back",
            "present-value",
            "fallback",
            "arn-present",
        ],
    );
    assert!(
        outcome.stderr.contains(&format!(
            "aws-init: debug: DEFAULT_SECRET: aws-secret:{absent}?default=<redacted>#k does not \
             exist; set to its default"
        )),
        "{}",
        outcome.stderr
    );
}

// The README's grammar table, example by example.

/// What one example of the grammar table gives the command.
enum Gives {
    /// The variable set to the example gets this value.
    Value(&'static str),
    /// The variable set to the example is left unset.
    Unset,
    /// The example is a flag, which loads this variable with this value.
    Loads(&'static str, &'static str),
}

/// Every example of the table, with what it gives once the emulator holds
/// what [`seed_the_readme_examples`] puts there.
const README_EXAMPLES: &[(&str, Gives)] = &[
    ("aws-secret:myapp/api-key", Gives::Value("readme-api-key")),
    (
        "aws-secret:myapp/db#password",
        Gives::Value("readme-pass-2"),
    ),
    (
        "aws-secret:myapp/db#/replicas/0/host",
        Gives::Value("readme-replica-2"),
    ),
    (
        "aws-secret:myapp/db?version-stage=AWSPREVIOUS#password",
        Gives::Value("readme-pass-1"),
    ),
    (
        "aws-secret:myapp/db?version-id=a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        Gives::Value(README_DB_FIRST),
    ),
    (
        "aws-secret:/aws/reference/secretsmanager/myapp/db#user",
        Gives::Value("readme-user-2"),
    ),
    ("aws-ssm:/myapp/token", Gives::Value("readme-token-3")),
    ("aws-ssm:/myapp/token:3", Gives::Value("readme-token-3")),
    (
        "aws-ssm:/myapp/token:stable",
        Gives::Value("readme-token-2"),
    ),
    (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:myapp/db-AbCdEf#password",
        Gives::Value("readme-eu-pass-2"),
    ),
    (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:myapp/db-AbCdEf:password:AWSPREVIOUS:",
        Gives::Value("readme-eu-pass-1"),
    ),
    (
        "arn:aws:ssm:eu-west-1:123456789012:parameter/myapp/token:2",
        Gives::Value("readme-eu-token-2"),
    ),
    ("aws-ssm:/myapp/feature-flag?optional", Gives::Unset),
    (
        "aws-secret:myapp/smtp?default=localhost%3A25#host",
        Gives::Value("localhost:25"),
    ),
    (
        "--ssm-path /myapp/prod",
        Gives::Loads("DB_USER", "readme-prod-user"),
    ),
    (
        "--secret-json myapp/config",
        Gives::Loads("API_KEY", "readme-config-key"),
    ),
];

const README_DB_FIRST: &str = r#"{"user":"readme-user-1","password":"readme-pass-1","replicas":[{"host":"readme-replica-1"}]}"#;

/// The examples in the README's grammar table, in its order.
fn readme_grammar_examples() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let table = readme
        .split("The whole grammar")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").nth(1))
        .expect("the README has the grammar table");
    table
        .lines()
        .skip(2)
        .map(|row| {
            let example = row.trim_end_matches(" |").rsplit(" | ").next().unwrap();
            example.trim_matches('`').to_owned()
        })
        .collect()
}

/// Puts into the emulator what the README's examples name. They all use
/// fixed names, which no other test in this file uses.
fn seed_the_readme_examples() {
    let emulator = emulator();
    emulator.put_secret("myapp/api-key", "readme-api-key");
    emulator.put_secret_with_version_id(
        REGION,
        "myapp/db",
        README_DB_FIRST,
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
    );
    emulator.put_secret_version(
        "myapp/db",
        r#"{"user":"readme-user-2","password":"readme-pass-2","replicas":[{"host":"readme-replica-2"}]}"#,
        &[],
    );
    emulator.put_parameter("/myapp/token", "readme-token-1", "String");
    emulator.overwrite_parameter("/myapp/token", "readme-token-2");
    emulator.overwrite_parameter("/myapp/token", "readme-token-3");
    emulator.label_parameter("/myapp/token", 2, "stable");

    // The ARN examples are in eu-west-1 and end in a made-up suffix. The
    // emulator reads an ARN it did not make as a partial one, which names
    // the secret by all that follows `secret:`, so a secret with the
    // suffix in its name answers for them.
    let eu = "eu-west-1";
    emulator.put_secret_in(eu, "myapp/db-AbCdEf", r#"{"password":"readme-eu-pass-1"}"#);
    emulator.put_secret_version_in(
        eu,
        "myapp/db-AbCdEf",
        r#"{"password":"readme-eu-pass-2"}"#,
        &[],
    );
    emulator.put_parameter_in(eu, "/myapp/token", "readme-eu-token-1", "String");
    emulator.overwrite_parameter_in(eu, "/myapp/token", "readme-eu-token-2");
    emulator.overwrite_parameter_in(eu, "/myapp/token", "readme-eu-token-3");

    emulator.put_parameter("/myapp/prod/db/user", "readme-prod-user", "String");
    emulator.put_secret("myapp/config", r#"{"api.key":"readme-config-key"}"#);
}

#[test]
fn every_example_in_the_readme_grammar_table_resolves() {
    let listed: Vec<&str> = README_EXAMPLES.iter().map(|(text, _)| *text).collect();
    assert_eq!(readme_grammar_examples(), listed);
    seed_the_readme_examples();

    let mut command = with_env(&[]);
    command.args(["--log-level", "debug"]);
    let mut wanted: Vec<(String, Option<&str>)> = Vec::new();
    for (index, (example, gives)) in README_EXAMPLES.iter().enumerate() {
        let variable = format!("EXAMPLE_{index:02}");
        match gives {
            Gives::Value(value) => {
                command.env(&variable, example);
                wanted.push((variable, Some(value)));
            }
            Gives::Unset => {
                command.env(&variable, example);
                wanted.push((variable, None));
            }
            Gives::Loads(name, value) => {
                command.args(example.split(' '));
                wanted.push((name.to_string(), Some(value)));
            }
        }
    }
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    for (variable, value) in wanted {
        assert_eq!(
            seen.get(variable.as_bytes()).map(Vec::as_slice),
            value.map(str::as_bytes),
            "{variable}"
        );
    }
    assert_no_secret(&outcome.stderr, &["readme-", "localhost"]);
}
