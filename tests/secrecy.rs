//! The secrecy suite for what aws-init prints and writes. Every secret and
//! parameter it plants holds a random canary. aws-init is driven down every
//! path: success at each log level and in each log format, bulk loading, `--check`, each kind of
//! failure, AWS errors, the health check, a signal while resolving, and a
//! command that crashes. No canary, nor any 8-byte piece of one, may show
//! up in what aws-init prints or in a file written during the run.
//! `tests/secret_memory.rs` checks the memory of the processes involved.

mod common;

use std::io::ErrorKind;
use std::process::Command;

use common::canary::*;
use common::json_log;
use common::launch::{Launch, Running, shell};
use common::mock::Mock;
use common::*;
use nix::sys::signal::Signal;

#[test]
fn success_at_every_log_level_shows_no_canary() {
    let planted = Planted::new();
    for level in ["error", "warn", "info", "debug"] {
        for format in ["text", "json"] {
            let outcome = run_planted(
                &planted,
                &[],
                &["--log-level", level, "--log-format", format],
            );
            assert_eq!(outcome.code(), 0, "{level}: {}", outcome.stderr);
            assert_eq!(outcome.stdout, "match\n", "{level}: {}", outcome.stderr);
        }
    }
}

/// What aws-init logged, as text: JSON lines are read back into the text
/// lines they stand for, so that the same checks hold for both formats.
fn logged(outcome: &common::Outcome, format: &str) -> String {
    match format {
        "json" => json_log::to_text(&outcome.stderr),
        _ => outcome.stderr.clone(),
    }
}

/// The (log level, log format) pairs the failure tests run at.
const LOGGING: [(&str, &str); 3] = [("error", "text"), ("debug", "text"), ("debug", "json")];

#[test]
fn the_sdk_prints_nothing_even_when_the_environment_asks() {
    let planted = Planted::new();
    let asks = [
        ("LOG_SENSITIVE_BODIES", "true"),
        ("RUST_LOG", "trace"),
        ("AWS_LOG_LEVEL", "trace"),
        ("RUST_BACKTRACE", "full"),
    ];
    for format in ["text", "json"] {
        let outcome = run_planted(
            &planted,
            &asks,
            &["--log-level", "debug", "--log-format", format],
        );
        assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
        assert_eq!(outcome.stdout, "match\n");
        // Reading the JSON back fails on any line that is not aws-init's.
        for line in logged(&outcome, format).lines() {
            assert!(line.starts_with("aws-init: "), "not aws-init's: {line:?}");
        }
    }
}

/// References that fail in every way the emulator can make them fail,
/// each next to a canary where there is one, as (variable, reference);
/// and bulk sources that fail, as (flag, value).
struct Failing {
    references: Vec<(String, String)>,
    bulk: Vec<(&'static str, String)>,
}

impl Failing {
    fn plant() -> Failing {
        let emulator = emulator();
        let deleted = unique("secrecy-deleted");
        emulator.put_secret(&deleted, &canary());
        emulator.delete_secret(&deleted);
        let object = unique("secrecy-object");
        emulator.put_secret(
            &object,
            &format!(r#"{{"present":"{}","null":null}}"#, canary()),
        );
        let text = unique("secrecy-text");
        emulator.put_secret(&text, &canary());
        let array = unique("secrecy-array");
        emulator.put_secret(&array, &format!(r#"["{}"]"#, canary()));
        let nul = unique("secrecy-nul");
        emulator.put_secret(&nul, &format!("{}\0{}", canary(), canary()));
        let with_null = unique("secrecy-bulk-null");
        emulator.put_secret(
            &with_null,
            &format!(r#"{{"fine":"{}","empty":null}}"#, canary()),
        );

        let references = [
            (
                "MISSING_SECRET",
                format!("aws-secret:{}", unique("secrecy-absent")),
            ),
            (
                "MISSING_PARAMETER",
                format!("aws-ssm:/{}", unique("secrecy-absent")),
            ),
            ("DELETED", format!("aws-secret:{deleted}")),
            ("MISSING_KEY", format!("aws-secret:{object}#absent")),
            ("NULL_KEY", format!("aws-secret:{object}#null")),
            ("NOT_JSON", format!("aws-secret:{text}#key")),
            ("NOT_AN_OBJECT", format!("aws-secret:{array}#key")),
            ("NUL_BYTE", format!("aws-secret:{nul}")),
            (
                "MALFORMED",
                "aws-secret:arn:aws:secretsmanager:x".to_owned(),
            ),
            ("MISSPELT", format!("aws-secrets:{text}")),
        ];
        Failing {
            references: references
                .into_iter()
                .map(|(name, reference)| (name.to_owned(), reference))
                .collect(),
            bulk: vec![
                ("--secret-json", text),
                ("--secret-json", array),
                ("--secret-json", with_null),
                ("--ssm-path", format!("/{}", unique("secrecy-empty-path"))),
            ],
        }
    }

    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        for (name, reference) in &self.references {
            command.env(name, reference);
        }
        for (flag, value) in &self.bulk {
            command.arg(flag).arg(value);
        }
        command
    }

    fn count(&self) -> usize {
        self.references.len() + self.bulk.len()
    }
}

#[test]
fn every_kind_of_failure_shows_no_canary() {
    let planted = Planted::new();
    let failing = Failing::plant();
    for (level, format) in LOGGING {
        let workspace = Workspace::new();
        let scratch = expected_dir();
        let mut command = emulator().aws_init();
        planted.apply(&mut command);
        workspace.apply(&mut command);
        command.args(["--log-level", level, "--log-format", format]);
        failing.apply(&mut command);
        let outcome = run(command.args(planted.checker(&scratch)));
        assert_clean(&outcome, &workspace);
        assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
        assert_eq!(outcome.stdout, "", "the command started");
        let stderr = logged(&outcome, format);
        let summary = format!(
            "aws-init: error: {} reference(s) failed to resolve; the command was not started",
            failing.count()
        );
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("aws-init: error: "))
            .collect();
        assert_eq!(errors.len(), failing.count() + 1, "{stderr}");
        assert_eq!(errors.last(), Some(&summary.as_str()), "{stderr}");
        let starts =
            failing
                .references
                .iter()
                .map(|(name, _)| format!("aws-init: error: {name}: cannot resolve "))
                .chain(failing.bulk.iter().map(|(flag, value)| {
                    format!("aws-init: error: {flag}: cannot resolve {value}: ")
                }));
        for start in starts {
            assert!(
                errors.iter().any(|line| line.starts_with(&start)),
                "no line starting {start:?}:\n{stderr}"
            );
        }
    }
}

#[test]
fn check_shows_no_canary() {
    let planted = Planted::new();
    let failing = Failing::plant();
    // The bulk sources go in as flags here, not through their variables.
    let bulk = [
        "--ssm-path",
        planted.path.as_str(),
        "--secret-json",
        planted.json_secret.as_str(),
    ];
    let check = |level: &str, offline: bool, failing: Option<&Failing>| {
        let workspace = Workspace::new();
        let mut command = emulator().aws_init();
        planted.apply(&mut command);
        command
            .env_remove("AWS_INIT_SSM_PATH")
            .env_remove("AWS_INIT_SECRET_JSON");
        workspace.apply(&mut command);
        command.args(["--log-level", level, "--check"]).args(bulk);
        if offline {
            command.arg("--offline");
        }
        if let Some(failing) = failing {
            failing.apply(&mut command);
        }
        let outcome = run(&mut command);
        assert_clean(&outcome, &workspace);
        outcome
    };

    for level in ["info", "debug"] {
        let outcome = check(level, false, None);
        assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
        // One line per variable, the bulk ones included.
        let lines: Vec<&str> = outcome.stdout.lines().collect();
        assert_eq!(lines.len(), planted.resolved(), "{}", outcome.stdout);
        for line in lines {
            assert!(line.ends_with(": ok"), "{}", outcome.stdout);
        }
    }

    let outcome = check("debug", true, None);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);

    let outcome = check("debug", false, Some(&failing));
    assert_eq!(outcome.code(), 1, "{}", outcome.stderr);
    let failed = outcome
        .stdout
        .lines()
        .filter(|line| !line.ends_with(": ok"))
        .count();
    assert_eq!(failed, failing.count(), "{}", outcome.stdout);
}

/// The line aws-init prints when `variable`, holding `reference`, failed
/// with the AWS error `code` and `message`.
fn aws_error_line(variable: &str, reference: &str, code: &str, message: &str) -> String {
    let hint = match code {
        "AccessDeniedException" => " (check that the IAM policy allows this call on this resource)",
        _ => "",
    };
    format!("aws-init: error: {variable}: cannot resolve {reference}: {code}: {message}{hint}")
}

/// Which service a planted reference goes to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Service {
    SecretsManager,
    ParameterStore,
}

impl Service {
    fn endpoint_variable(self) -> &'static str {
        match self {
            Service::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            Service::ParameterStore => "AWS_ENDPOINT_URL_SSM",
        }
    }

    /// The service that `reference` is read from: the Secrets Manager
    /// reference path goes through Parameter Store.
    fn of(reference: &str) -> Service {
        if reference.starts_with("aws-ssm:")
            || reference.starts_with("aws-secret:/aws/reference/secretsmanager/")
        {
            Service::ParameterStore
        } else {
            Service::SecretsManager
        }
    }
}

/// AWS errors, answered by a mock in place of one service, whose bodies
/// hold canaries outside the message. The message is printed, since it
/// names what was denied; nothing else of the body may be.
#[test]
fn aws_errors_show_the_code_and_message_and_no_canary() {
    let denied_ssm = "User: arn:aws:sts::123456789012:assumed-role/app/task is not authorized to \
                      perform: ssm:GetParameters on resource: \
                      arn:aws:ssm:us-east-1:123456789012:parameter/app because no \
                      identity-based policy allows the ssm:GetParameters action";
    let kms_ssm = "The ciphertext refers to a KMS key that does not exist or that this caller \
                   may not use. (Service: AWSKMS; Status Code: 400; Error Code: \
                   AccessDeniedException)";
    let disabled_key = "The KMS key of this parameter is disabled.";
    let denied_secret = "User: arn:aws:sts::123456789012:assumed-role/app/task is not \
                         authorized to perform: secretsmanager:GetSecretValue because no \
                         identity-based policy allows it";
    let decryption = "Secrets Manager cannot decrypt the protected secret text with the KMS key.";
    let kms_secret = "Access to KMS is not allowed";
    let cases = [
        (
            Service::ParameterStore,
            "AccessDeniedException",
            denied_ssm,
            "aws-ssm:/denied",
        ),
        (
            Service::ParameterStore,
            "AccessDeniedException",
            kms_ssm,
            "aws-ssm:/kms-denied",
        ),
        (
            Service::ParameterStore,
            "InvalidKeyId",
            disabled_key,
            "aws-ssm:/key-disabled",
        ),
        (
            Service::SecretsManager,
            "AccessDeniedException",
            denied_secret,
            "aws-secret:denied",
        ),
        (
            Service::SecretsManager,
            "DecryptionFailure",
            decryption,
            "aws-secret:undecryptable",
        ),
        (
            Service::SecretsManager,
            "AccessDeniedException",
            kms_secret,
            "aws-secret:kms-denied",
        ),
    ];
    for (service, code, message, extra) in cases {
        // Every place a value could sit in a response carries a canary.
        let body = format!(
            r#"{{"__type":"{code}","message":"{message}","SecretString":"{}","Parameter":{{"Value":"{}"}},"Parameters":[{{"Value":"{}"}}]}}"#,
            canary(),
            canary(),
            canary()
        );
        let mock = Mock::new(400, &body);
        let planted = Planted::new();

        let mut expected: Vec<String> = planted
            .vars
            .iter()
            .filter(|(name, _)| !name.starts_with("AWS_INIT_"))
            .chain([("EXTRA".to_owned(), extra.to_owned())].iter())
            .filter(|(_, reference)| Service::of(reference) == service)
            .map(|(name, reference)| aws_error_line(name, reference, code, message))
            .collect();
        let bulk = match service {
            Service::ParameterStore => aws_error_line("--ssm-path", &planted.path, code, message),
            Service::SecretsManager => {
                aws_error_line("--secret-json", &planted.json_secret, code, message)
            }
        };
        expected.push(bulk);
        expected.sort();

        for (level, format) in LOGGING {
            let outcome = run_planted(
                &planted,
                &[
                    (service.endpoint_variable(), &mock.endpoint),
                    ("EXTRA", extra),
                ],
                &["--log-level", level, "--log-format", format],
            );
            assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
            assert_eq!(outcome.stdout, "", "the command started");
            let stderr = logged(&outcome, format);
            let mut errors: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with("aws-init: error: "))
                .collect();
            let summary = format!(
                "aws-init: error: {} reference(s) failed to resolve; the command was not started",
                expected.len()
            );
            assert_eq!(errors.pop(), Some(summary.as_str()), "{}", outcome.stderr);
            errors.sort();
            assert_eq!(errors, expected, "{service:?} {code}");
            if level == "error" {
                assert_eq!(
                    outcome.stderr.lines().count(),
                    expected.len() + 1,
                    "{}",
                    outcome.stderr
                );
            }
        }
    }
}

/// The health check reads no secret and prints nothing of the environment,
/// references and plain values alike: it calls STS alone, and says only
/// who the caller is.
#[test]
fn the_health_check_reads_no_secret_and_shows_nothing_of_the_environment() {
    let planted = Planted::new();
    let secrets = Silent::new();
    let parameters = Silent::new();
    let workspace = Workspace::new();
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    workspace.apply(&mut command);
    command
        .env("PLAIN_CANARY", canary())
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &secrets.endpoint)
        .env("AWS_ENDPOINT_URL_SSM", &parameters.endpoint);
    let outcome = run(command.args(["--log-level", "debug", "--health-check"]));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!("aws-init: health check passed: arn:aws:sts::{ACCOUNT}:user/moto\n")
    );
    assert_clean(&outcome, &workspace);
    // A connection made during the run waits in the listener's queue.
    for (service, silent) in [
        ("Secrets Manager", &secrets),
        ("Parameter Store", &parameters),
    ] {
        silent.listener.set_nonblocking(true).unwrap();
        let accepted = silent.listener.accept().map(|_| ()).map_err(|e| e.kind());
        assert_eq!(
            accepted,
            Err(ErrorKind::WouldBlock),
            "the health check called {service}"
        );
    }
}

#[test]
fn a_signal_while_resolving_shows_no_canary() {
    let planted = Planted::new();
    let silent = Silent::new();
    let workspace = Workspace::new();
    let mut command = Launch::Direct.command(&emulator().endpoint);
    planted.apply(&mut command);
    workspace.apply(&mut command);
    // Secrets Manager answers, so its canaries are in the resolving child
    // when the signal comes; Parameter Store never does.
    command
        .env("AWS_ENDPOINT_URL_SSM", &silent.endpoint)
        .args(["--log-level", "debug", "true"]);
    let running = Running::start(Launch::Direct, &mut command);
    let _held = silent.wait_for_request();
    running.signal(Signal::SIGTERM);
    let (outcome, _) = running.finish();
    assert_eq!(outcome.code(), 143, "{}", outcome.stderr);
    assert_clean(&outcome, &workspace);
}

#[test]
fn a_command_that_crashes_shows_no_canary() {
    let planted = Planted::new();
    let workspace = Workspace::new();
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    workspace.apply(&mut command);
    let outcome = run(command
        .args(["--log-level", "debug"])
        .args(shell("kill -SEGV $$", &[])));
    assert_eq!(outcome.code(), 128 + libc::SIGSEGV, "{}", outcome.stderr);
    assert_clean(&outcome, &workspace);
}

#[test]
fn a_default_is_never_shown() {
    let value = canary();
    let absent = unique("secrecy-absent");
    let workspace = Workspace::new();
    let mut command = emulator().aws_init();
    workspace.apply(&mut command);
    command
        .env("TOKEN", format!("aws-ssm:/{absent}?default={value}"))
        .args(["--log-level", "debug"])
        .args(shell("[ \"$TOKEN\" = \"$1\" ] && echo match", &[]));
    // The expected value goes in as an argument of the command, which
    // aws-init never prints.
    command.arg(&value);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "match\n");
    assert_clean(&outcome, &workspace);

    // A failing run shows the reference with the default hidden.
    let mut command = emulator().aws_init();
    workspace.apply(&mut command);
    command
        .env(
            "TOKEN",
            format!("aws-ssm:/{absent}?default={value}&defualt={value}"),
        )
        .args(["--log-level", "debug", "true"]);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    assert_clean(&outcome, &workspace);
}
