//! End-to-end tests of bulk loading: every parameter under a path
//! (`--ssm-path`) and every key of a JSON secret (`--secret-json`) becomes
//! a variable, the environment wins over them, and a clash fails closed.

mod common;

use common::checks::*;
use common::mock::Mock;
use common::*;

/// Stores `parameters` (name under `root`, value) as String parameters.
fn put_tree(root: &str, parameters: &[(&str, &str)]) {
    for (name, value) in parameters {
        emulator().put_parameter(&format!("{root}/{name}"), value, "String");
    }
}

#[test]
fn every_parameter_under_a_path_is_loaded_across_pages() {
    // Case 4 from the field: 25 parameters, where one call returns 10.
    let root = format!("/{}", unique("bulk-many"));
    let names: Vec<String> = (1..=25).map(|i| format!("p-{i:02}")).collect();
    for name in &names {
        emulator().put_parameter(
            &format!("{root}/{name}"),
            &format!("value-{name}"),
            "String",
        );
    }
    let mut command = with_env(&[]);
    command.args(["--ssm-path", &root]);
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    for name in &names {
        let variable = name.to_uppercase().replace('-', "_");
        assert_eq!(
            seen.get(variable.as_bytes()).map(Vec::as_slice),
            Some(format!("value-{name}").as_bytes()),
            "{variable}"
        );
    }
    let summary = outcome.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("aws-init: resolved 25 variable(s) in "),
        "{}",
        outcome.stderr
    );
}

#[test]
fn names_come_from_the_rest_of_the_path_and_the_environment_wins() {
    let root = format!("/{}", unique("bulk-names"));
    put_tree(
        &root,
        &[
            ("db/pass-word", "bulk-pass"),
            ("api.key", "bulk-key"),
            ("deep/er/still", "bulk-deep"),
            ("kept", "bulk-not-used"),
        ],
    );
    let other = format!("/{}", unique("bulk-other"));
    put_tree(&other, &[("token", "bulk-token")]);
    let mut command = with_env(&[
        ("KEPT", "from the environment"),
        ("AWS_INIT_SSM_PATH", &format!("{root}/ , {other}")),
    ]);
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    let get = |name: &str| seen.get(name.as_bytes()).map(|value| value.as_slice());
    assert_eq!(get("DB_PASS_WORD"), Some(b"bulk-pass".as_slice()));
    assert_eq!(get("API_KEY"), Some(b"bulk-key".as_slice()));
    assert_eq!(get("DEEP_ER_STILL"), Some(b"bulk-deep".as_slice()));
    assert_eq!(get("TOKEN"), Some(b"bulk-token".as_slice()));
    assert_eq!(get("KEPT"), Some(b"from the environment".as_slice()));
    assert_no_secret(&outcome.stderr, &["bulk-"]);
}

#[test]
fn every_key_of_a_json_secret_is_loaded() {
    let name = unique("bulk-json");
    emulator().put_secret(
        &name,
        r#"{"db-pass":"json-pass","port":5432,"nested":{"a":[1, 2]},"Api.Key":"json-key"}"#,
    );
    let mut command = with_env(&[("PORT", "8080")]);
    command.args(["--secret-json", &name, "--log-level", "debug"]);
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    let get = |name: &str| seen.get(name.as_bytes()).map(|value| value.as_slice());
    assert_eq!(get("DB_PASS"), Some(b"json-pass".as_slice()));
    assert_eq!(get("NESTED"), Some(br#"{"a":[1,2]}"#.as_slice()));
    assert_eq!(get("API_KEY"), Some(b"json-key".as_slice()));
    assert_eq!(get("PORT"), Some(b"8080".as_slice()));
    assert_no_secret(&outcome.stderr, &["json-pass", "json-key"]);
    assert!(
        outcome.stderr.contains(&format!(
            "aws-init: debug: loaded DB_PASS from --secret-json {name} (key db-pass)"
        )),
        "{}",
        outcome.stderr
    );
}

#[test]
fn clashes_and_bad_names_fail_closed_naming_both_sources() {
    let root = format!("/{}", unique("bulk-clash"));
    put_tree(
        &root,
        &[
            ("a-b", "clashvalue-1"),
            ("a_b", "clashvalue-2"),
            ("1st", "clashvalue-3"),
            ("shared", "clashvalue-4"),
        ],
    );
    let name = unique("bulk-clash");
    emulator().put_secret(&name, r#"{"shared":"clashvalue-5"}"#);
    assert_fails_closed(
        || {
            let mut command = with_env(&[]);
            command.args(["--ssm-path", &root, "--secret-json", &name]);
            command
        },
        &[
            failure(
                "A_B",
                &format!("--ssm-path {root} ({root}/a_b)"),
                &format!(
                    "--ssm-path {root} ({root}/a-b) gives this variable too; rename one of them"
                ),
            ),
            failure(
                "1ST",
                &format!("--ssm-path {root} ({root}/1st)"),
                "this is not a valid variable name: it is empty or starts with a digit",
            ),
            failure(
                "SHARED",
                &format!("--secret-json {name} (key shared)"),
                &format!(
                    "--ssm-path {root} ({root}/shared) gives this variable too; rename one of them"
                ),
            ),
        ],
        &["clashvalue"],
    );
}

#[test]
fn a_bulk_source_that_cannot_be_read_fails_closed() {
    let text = unique("bulk-text");
    emulator().put_secret(&text, "bulk-canary not json");
    let null = unique("bulk-null");
    emulator().put_secret(&null, r#"{"k":null,"v":"bulk-canary"}"#);
    let absent = unique("bulk-absent");
    assert_fails_closed(
        || {
            let mut command = with_env(&[]);
            command.args(["--secret-json", &text, "--secret-json", &null]);
            command.args(["--secret-json", &absent, "--ssm-path", "relative/path"]);
            command.args(["--secret-json", &format!("{text}#k")]);
            command
        },
        &[
            failure(
                "--secret-json",
                &text,
                "the value is not valid JSON, so it has no keys to load",
            ),
            failure("--secret-json", &null, "the JSON key `k` is null"),
            rejected(
                "--secret-json",
                &absent,
                "ResourceNotFoundException",
                NOT_FOUND_HINT,
            ),
            failure(
                "--ssm-path",
                "relative/path",
                "invalid value: a path starts with `/` and holds no `:` or `?`, like /app/prod",
            ),
            failure(
                "--secret-json",
                &format!("{text}#k"),
                "invalid value: expected a secret's name or ARN, with ?version-stage= or \
                 ?version-id= at most",
            ),
        ],
        &["bulk-canary"],
    );
}

#[test]
fn check_describes_every_loaded_variable_as_it_describes_a_reference() {
    let emulator = emulator();
    let root = format!("/{}", unique("bulk-check"));
    put_tree(&root, &[("db/user", "check-canary-1")]);
    let name = unique("bulk-check");
    emulator.put_secret(&name, r#"{"api.key":"check-canary-2"}"#);
    let pending = unique("bulk-check-pending");
    let arn = emulator.put_secret(&pending, r#"{"old":"check-canary-3"}"#);
    emulator.put_secret_version(&pending, r#"{"new-key":"check-canary-4"}"#, &["AWSPENDING"]);
    let versioned = format!("{arn}?version-stage=AWSPENDING");
    let args = [
        "--check",
        "--ssm-path",
        &root,
        "--secret-json",
        &name,
        "--secret-json",
        &versioned,
    ];

    let outcome = run(with_env(&[]).args(args));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "API_KEY: Secrets Manager, {REGION}, {name}, stage AWSCURRENT, key api.key \
             (--secret-json {name}): ok\n\
             DB_USER: Parameter Store, {REGION}, {root}/db/user, latest version \
             (--ssm-path {root}): ok\n\
             NEW_KEY: Secrets Manager, {REGION}, {arn}, stage AWSPENDING, key new-key \
             (--secret-json {versioned}): ok\n"
        )
    );
    assert_eq!(
        outcome.stderr,
        "aws-init: all 3 reference(s) passed the check\n"
    );
    assert_no_secret(&outcome.stdout, &["check-canary"]);

    let outcome = run(aws_init_at(NOWHERE).args(args).arg("--offline"));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "--secret-json {versioned}: Secrets Manager, {REGION}, {arn}, stage AWSPENDING, \
             every top-level key: valid\n\
             --secret-json {name}: Secrets Manager, {REGION}, {name}, stage AWSCURRENT, every \
             top-level key: valid\n\
             --ssm-path {root}: Parameter Store, {REGION}, every parameter under {root}, latest \
             version: valid\n"
        )
    );
}

#[test]
fn check_fails_on_a_clash_and_on_a_source_it_cannot_read() {
    let root = format!("/{}", unique("bulk-check-clash"));
    put_tree(
        &root,
        &[("a-b", "check-canary-5"), ("a_b", "check-canary-6")],
    );
    let absent = unique("bulk-check-absent");
    let outcome =
        run(with_env(&[]).args(["--check", "--ssm-path", &root, "--secret-json", &absent]));
    assert_eq!(outcome.code(), 1, "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", outcome.stdout);
    let unread = format!(
        "--secret-json {absent}: Secrets Manager, {REGION}, {absent}, stage AWSCURRENT, every \
         top-level key: failed: ResourceNotFoundException: "
    );
    assert!(lines[0].starts_with(&unread), "{}", outcome.stdout);
    assert!(lines[0].ends_with(NOT_FOUND_HINT), "{}", outcome.stdout);
    // The first of the two is read well; the second fails, naming both.
    assert_eq!(
        lines[1],
        format!(
            "A_B: Parameter Store, {REGION}, {root}/a-b, latest version (--ssm-path {root}): ok"
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "A_B: Parameter Store, {REGION}, {root}/a_b, latest version (--ssm-path {root}): \
             failed: --ssm-path {root} ({root}/a-b) gives this variable too; rename one of them"
        )
    );
    assert_eq!(
        outcome.stderr,
        "aws-init: error: 2 of 3 reference(s) failed the check\n"
    );
    assert_no_secret(&outcome.stdout, &["check-canary"]);
}

#[test]
fn a_path_with_nothing_under_it_fails_closed() {
    let empty = format!("/{}", unique("bulk-empty"));
    assert_fails_closed(
        || {
            let mut command = with_env(&[]);
            command.args(["--ssm-path", &empty]);
            command
        },
        &[failure(
            "--ssm-path",
            &empty,
            "no parameter is under this path (check the path and the region)",
        )],
        &[],
    );
}

#[test]
fn a_source_given_twice_is_loaded_once() {
    let root = format!("/{}", unique("bulk-twice"));
    put_tree(&root, &[("user", "twice-user")]);
    let name = unique("bulk-twice");
    emulator().put_secret(&name, r#"{"pass":"twice-pass"}"#);
    let mut command = with_env(&[
        ("AWS_INIT_SSM_PATH", &root),
        ("AWS_INIT_SECRET_JSON", &name),
    ]);
    command.args(["--ssm-path", &format!("{root}/"), "--secret-json", &name]);
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(
        seen.get(b"USER".as_slice()).map(Vec::as_slice),
        Some(b"twice-user".as_slice())
    );
    assert_eq!(
        seen.get(b"PASS".as_slice()).map(Vec::as_slice),
        Some(b"twice-pass".as_slice())
    );
}

#[test]
fn a_default_given_to_a_bulk_source_is_never_shown() {
    let args = [
        "--secret-json",
        "app?default=hunter2-canary",
        "--ssm-path",
        "/app?default=hunter2-canary",
    ];
    let path = "invalid value: a path starts with `/` and holds no `:` or `?`, like /app/prod";
    let secret = "invalid value: expected a secret's name or ARN, with ?version-stage= or \
                  ?version-id= at most";

    let outcome = run(with_env(&[]).args(args).arg("true"));
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "{ERROR}--ssm-path: cannot resolve /app?default=<redacted>: {path}\n\
             {ERROR}--secret-json: cannot resolve app?default=<redacted>: {secret}\n\
             {ERROR}2 reference(s) failed to resolve; the command was not started\n"
        )
    );

    let outcome = run(with_env(&[]).args(args).arg("--check"));
    assert_eq!(outcome.code(), 1, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "--secret-json: app?default=<redacted>: {secret}\n\
             --ssm-path: /app?default=<redacted>: {path}\n"
        )
    );
    assert_eq!(
        outcome.stderr,
        "aws-init: error: 2 of 2 reference(s) failed the check\n"
    );
}

#[test]
fn a_key_given_twice_in_a_json_secret_fails_closed() {
    let name = unique("bulk-repeated");
    emulator().put_secret(
        &name,
        r#"{"user":"twice-canary-1","pass":"twice-canary-2","user":"twice-canary-3"}"#,
    );
    assert_fails_closed(
        || {
            let mut command = with_env(&[]);
            command.args(["--secret-json", &name]);
            command
        },
        &[failure(
            "--secret-json",
            &name,
            "the JSON object has the key `user` more than once; keep one",
        )],
        &["twice-canary"],
    );
}

#[test]
fn a_json_secret_is_loaded_by_arn_and_by_version() {
    let emulator = emulator();
    let name = unique("bulk-versions");
    let arn = emulator.put_secret(&name, r#"{"old-key":"json-previous"}"#);
    emulator.put_secret_version(&name, r#"{"new-key":"json-current"}"#, &[]);
    let other = unique("bulk-versions-ecs");
    let (other_arn, first) = emulator.put_secret_versioned(&other, r#"{"first":"json-first"}"#);
    emulator.put_secret_version(&other, r#"{"second":"json-second"}"#, &[]);
    let mut command = with_env(&[]);
    command.args(["--secret-json", &format!("{arn}?version-stage=AWSPREVIOUS")]);
    command.args(["--secret-json", &format!("{other_arn}:::{first}")]);
    let (outcome, seen) = environment_seen(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    let get = |name: &str| seen.get(name.as_bytes()).map(|value| value.as_slice());
    assert_eq!(get("OLD_KEY"), Some(b"json-previous".as_slice()));
    assert_eq!(get("NEW_KEY"), None);
    assert_eq!(get("FIRST"), Some(b"json-first".as_slice()));
    assert_eq!(get("SECOND"), None);
    assert_no_secret(&outcome.stderr, &["json-"]);
}

/// A server that gives every page the token it gave before would keep a
/// paging loop calling it until the deadline.
#[test]
fn a_path_whose_pages_repeat_fails_closed() {
    let mock = Mock::new(
        200,
        r#"{"Parameters":[{"Name":"/loop/a","Type":"String","Value":"bulk-canary-loop","Version":1}],"NextToken":"same"}"#,
    );
    assert_fails_closed(
        || {
            let mut command = aws_init_at(&mock.endpoint);
            command.args(["--ssm-path", "/loop"]);
            command
        },
        &[failure(
            "--ssm-path",
            "/loop",
            "GetParametersByPath answered page 2 with a NextToken it had sent before; stopped \
             there",
        )],
        &["bulk-canary-loop"],
    );
}
