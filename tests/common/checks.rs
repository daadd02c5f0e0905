//! Checks shared by the resolution tests: what reaches the command, and
//! what aws-init says when it fails closed.

use std::collections::HashMap;
use std::fs::{self, File};
use std::process::{Command, Stdio};

use super::temp::TempDir;
use super::{Outcome, emulator, envs, finish, run};

/// The start of every line aws-init logs at the error level.
pub const ERROR: &str = "aws-init: error: ";

/// The hint aws-init adds when AWS says a name does not exist.
pub const NOT_FOUND_HINT: &str = " (check the name and the region)";

/// A Command for aws-init that reaches the emulator, with `vars` added to
/// the harness's environment.
pub fn with_env(vars: &[(&str, &str)]) -> Command {
    let mut command = emulator().aws_init();
    envs(&mut command, vars);
    command
}

/// Panics if any of `secrets` shows up in `stderr`.
pub fn assert_no_secret(stderr: &str, secrets: &[&str]) {
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
pub fn assert_resolves(vars: &[(&str, &str)], expected: &[&str]) {
    let names: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
    let outcome = run(with_env(vars)
        .args(["--log-level", "debug", "printenv"])
        .args(&names));
    let stdout: String = expected.iter().map(|value| format!("{value}\n")).collect();
    assert_eq!(outcome.stdout, stdout, "{}", outcome.stderr);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_no_secret(&outcome.stderr, expected);
}

/// Runs `env -0` under aws-init and returns the run with the environment
/// the command saw, as bytes. The dump goes to a file because `Outcome`
/// keeps stdout as lossy UTF-8, which would hide the bytes under test.
pub fn environment_seen(command: &mut Command) -> (Outcome, HashMap<Vec<u8>, Vec<u8>>) {
    let scratch = TempDir::new("resolve");
    let path = scratch.path().join("environ");
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
pub enum Line {
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
pub fn failure(variable: &str, reference: &str, error: &str) -> Line {
    Line::Is(format!(
        "{ERROR}{variable}: cannot resolve {reference}: {error}"
    ))
}

/// The line for a reference that AWS rejected with `code`, ending with
/// `hint`.
pub fn rejected(variable: &str, reference: &str, code: &str, hint: &'static str) -> Line {
    Line::Around(
        format!("{ERROR}{variable}: cannot resolve {reference}: {code}: "),
        hint,
    )
}

/// Checks that aws-init, run by `make` at the default and at the most
/// verbose log level, exits 125 without starting the command, prints one
/// line per failure in `expected` and then their count, writes no line that
/// is not its own, and shows none of `secrets`.
pub fn assert_fails_closed(make: impl Fn() -> Command, expected: &[Line], secrets: &[&str]) {
    for level in [None, Some("debug")] {
        let scratch = TempDir::new("resolve");
        let marker = scratch.path().join("started");
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
        for line in stderr.lines() {
            assert!(line.starts_with("aws-init: "), "not aws-init's: {line:?}");
        }

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
