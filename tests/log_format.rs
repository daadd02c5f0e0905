//! End-to-end tests of `--log-format json`: one JSON object a line, saying
//! what the text format says, for the init and the resolving child alike,
//! and for usage errors.

mod common;

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::checks::*;
use common::json_log::{self, Event};
use common::*;

/// Runs `command` and returns the run with aws-init's own pid.
fn run_with_pid(command: &mut Command) -> (Outcome, u32) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (finish(child), pid)
}

/// Replaces each run of digits before " ms" with N: durations differ from
/// run to run.
fn without_durations(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(" ms") {
        let digits = rest[..at]
            .bytes()
            .rev()
            .take_while(u8::is_ascii_digit)
            .count();
        out.push_str(&rest[..at - digits]);
        out.push_str(if digits > 0 { "N ms" } else { " ms" });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

/// Milliseconds since the epoch of an RFC 3339 time, as `date` reads it.
fn millis_of(time: &str) -> u128 {
    let output = Command::new("date")
        .args(["-u", "-d", time, "+%s%3N"])
        .output()
        .unwrap();
    assert!(output.status.success(), "date cannot read {time:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[test]
fn a_failing_reference_at_debug_logs_exactly_these_json_lines() {
    let secret = "json-log-canary-value";
    let present = unique("json-present");
    emulator().put_secret(&present, secret);
    let missing = unique("json-missing");
    let reference = format!("aws-secret:{missing}");
    let before = now_millis();
    let (outcome, init) = run_with_pid(
        with_env(&[
            ("DB_PASSWORD", &reference),
            ("API_KEY", &format!("aws-secret:{present}")),
        ])
        .args(["--log-level", "debug", "--log-format", "json", "true"]),
    );
    let after = now_millis();
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert_no_secret(&outcome.stderr, &[secret]);

    let events: Vec<Event> = outcome.stderr.lines().map(json_log::parse).collect();
    let child = events
        .first()
        .and_then(|event| event.message.strip_prefix("started child "))
        .and_then(|pid| pid.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no child started first:\n{}", outcome.stderr));
    let mut api_key = format!("GetSecretValue {present}: ok in N ms");
    let mut db_password = format!("GetSecretValue {missing}: failed in N ms");
    // The two requests go out at once, and either may finish first.
    if events
        .get(1)
        .is_some_and(|event| event.message.contains(&missing))
    {
        std::mem::swap(&mut api_key, &mut db_password);
    }
    let expected = [
        (init, "debug", format!("started child {child}")),
        (child, "debug", api_key),
        (child, "debug", db_password),
        (
            child,
            "debug",
            "fetched 2 secrets and parameters and 0 paths in N ms".to_owned(),
        ),
        (
            child,
            "debug",
            format!("resolved API_KEY from aws-secret:{present}"),
        ),
        (
            child,
            "error",
            format!(
                "DB_PASSWORD: cannot resolve {reference}: ResourceNotFoundException: Secrets \
                 Manager can't find the specified secret. (check the name and the region)"
            ),
        ),
        (
            child,
            "error",
            "1 reference(s) failed to resolve; the command was not started".to_owned(),
        ),
        (init, "debug", "child exited; exiting with 125".to_owned()),
    ];
    let seen: Vec<(u32, &str, String)> = events
        .iter()
        .map(|event| {
            (
                event.pid,
                event.level.as_str(),
                without_durations(&event.message),
            )
        })
        .collect();
    assert_eq!(seen, expected, "{}", outcome.stderr);

    // Each time falls within the run, and none goes back.
    let times: Vec<u128> = events.iter().map(|event| millis_of(&event.time)).collect();
    assert!(
        times.is_sorted() && times[0] >= before && times[times.len() - 1] <= after,
        "{before}..{after}: {times:?}"
    );
}

/// Names and references come from the environment and may hold anything;
/// the JSON message is the text line's message, escaped the same way.
#[test]
fn json_says_exactly_what_text_says() {
    let awkward = "aws-secret:say \"hi\" \\ naïve 密钥\nforged: line\t\u{1b}[31m";
    let make = |format: &str| {
        let mut command = with_env(&[("AWKWARD\u{7f}", awkward)]);
        command.args(["--log-level", "debug", "--log-format", format, "true"]);
        command
    };
    let text = run(&mut make("text"));
    let json = run(&mut make("json"));
    assert_eq!(text.code(), 125, "{}", text.stderr);
    assert_eq!(json.code(), 125, "{}", json.stderr);
    assert_eq!(json.stdout, "");
    assert_eq!(json.stderr.lines().count(), text.stderr.lines().count());
    assert!(
        !json.stderr.contains("\nforged") && !text.stderr.contains("\nforged"),
        "{}",
        json.stderr
    );
    let as_text: Vec<String> = json_log::to_text(&json.stderr)
        .lines()
        .map(without_durations)
        .collect();
    let text: Vec<String> = text.stderr.lines().map(without_durations).collect();
    // The child's pid differs from run to run.
    let no_pid = |line: &String| !line.starts_with("aws-init: debug: started child ");
    assert_eq!(
        as_text
            .iter()
            .filter(|line| no_pid(line))
            .collect::<Vec<_>>(),
        text.iter().filter(|line| no_pid(line)).collect::<Vec<_>>()
    );
    assert!(
        text.iter()
            .any(|line| line.contains(r#"say "hi" \ naïve 密钥\nforged: line\t\u{1b}[31m"#)),
        "{text:?}"
    );
}

#[test]
fn a_usage_error_follows_the_format_variable() {
    let outcome = run(aws_init_at(NOWHERE)
        .env("AWS_INIT_LOG_FORMAT", "json")
        .args(["--bogus", "true"]));
    assert_eq!(outcome.code(), 2, "{}", outcome.stderr);
    let events: Vec<Event> = outcome.stderr.lines().map(json_log::parse).collect();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|event| (event.level.as_str(), event.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        [("error", "unknown option `--bogus`; see aws-init --help")]
    );
}

#[test]
fn a_usage_error_is_text_when_the_format_itself_is_wrong() {
    for (flag, variable, source) in [
        (Some("yaml"), None, "--log-format"),
        (None, Some("yaml"), "AWS_INIT_LOG_FORMAT"),
    ] {
        let mut command = aws_init_at(NOWHERE);
        if let Some(flag) = flag {
            command.args(["--log-format", flag]);
        }
        if let Some(variable) = variable {
            command.env("AWS_INIT_LOG_FORMAT", variable);
        }
        let outcome = run(command.arg("true"));
        assert_eq!(outcome.code(), 2, "{}", outcome.stderr);
        assert_eq!(
            outcome.stderr,
            format!("aws-init: error: invalid {source} `yaml`: expected text or json\n")
        );
    }
}
